package expert

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// linearize returns the Jacobians A = ∂f/∂s and B = ∂f/∂u of a discrete-time map
// s' = f(s, u) at (s0, u0), by central differences on the environment's own step
// function, so the controller sees exactly the variant's discretised dynamics.
func linearize(f func(s []float64, u float64) []float64, s0 []float64, u0 float64) (a, b *mat.Dense) {
	const h = 1e-6
	n := len(s0)
	a = mat.NewDense(n, n, nil)
	b = mat.NewDense(n, 1, nil)
	s := make([]float64, n)
	for j := range n {
		copy(s, s0)
		s[j] = s0[j] + h
		plus := f(s, u0)
		s[j] = s0[j] - h
		minus := f(s, u0)
		for i := range n {
			a.Set(i, j, (plus[i]-minus[i])/(2*h))
		}
	}
	plus, minus := f(s0, u0+h), f(s0, u0-h)
	for i := range n {
		b.Set(i, 0, (plus[i]-minus[i])/(2*h))
	}
	return a, b
}

// dlqr solves the discrete algebraic Riccati equation
// P = Q + AᵀPA − AᵀPB (R + BᵀPB)⁻¹ BᵀPA by fixed-point iteration and returns the
// gain K = (R + BᵀPB)⁻¹ BᵀPA of the control law u = −K s.
func dlqr(a, b, q, r *mat.Dense) (*mat.Dense, error) {
	n, _ := a.Dims()
	_, m := b.Dims()
	p := mat.DenseCopyOf(q)
	var k mat.Dense
	for iter := 0; iter < 100000; iter++ {
		// S = R + BᵀPB, K = S⁻¹ BᵀPA.
		var pb, s, btpa, pa mat.Dense
		pb.Mul(p, b)
		s.Mul(b.T(), &pb)
		s.Add(&s, r)
		pa.Mul(p, a)
		btpa.Mul(b.T(), &pa)
		if err := k.Solve(&s, &btpa); err != nil {
			return nil, fmt.Errorf("expert: LQR: %w", err)
		}
		// P' = Q + AᵀPA − AᵀPB K.
		var next, atpa, atpbk, pbk mat.Dense
		atpa.Mul(a.T(), &pa)
		pbk.Mul(&pb, &k)
		atpbk.Mul(a.T(), &pbk)
		next.Sub(&atpa, &atpbk)
		next.Add(&next, q)
		diff := 0.0
		for i := range n {
			for j := range n {
				diff = math.Max(diff, math.Abs(next.At(i, j)-p.At(i, j))/(1+math.Abs(p.At(i, j))))
			}
		}
		p = &next
		if diff < 1e-12 {
			kk := mat.DenseCopyOf(&k)
			if r, c := kk.Dims(); r != m || c != n {
				return nil, fmt.Errorf("expert: LQR gain is %d×%d, want %d×%d", r, c, m, n)
			}
			return kk, nil
		}
	}
	return nil, fmt.Errorf("expert: LQR: Riccati iteration did not converge (is the system stabilisable?)")
}

// diag builds a dense diagonal matrix.
func diag(v ...float64) *mat.Dense {
	d := mat.NewDense(len(v), len(v), nil)
	for i, x := range v {
		d.Set(i, i, x)
	}
	return d
}
