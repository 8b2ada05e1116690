package lora

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// initRandom is PEFT's default (init_lora_weights=True): kaiming_uniform_(A, a=√5),
// whose bound gain·√(3/fan_in) with gain = √(2/(1+a²)) is 1/√in, and B = 0.
func (a *Adapter) initRandom(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(a.Layer.In))
	for i := range a.A.Data {
		a.A.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
	clear(a.B.Data)
}

// initGaussian is PEFT's "gaussian": A ~ N(0, std = 1/r), B = 0.
func (a *Adapter) initGaussian(rng *rand.Rand) {
	std := 1 / float64(a.R)
	for i := range a.A.Data {
		a.A.Data[i] = float32(rng.NormFloat64() * std)
	}
	clear(a.B.Data)
}

// weight64 returns the base weight as a float64 matrix (Out, In).
func (a *Adapter) weight64() *mat.Dense {
	w := mat.NewDense(a.Layer.Out, a.Layer.In, nil)
	for i, v := range a.Layer.W.Data {
		w.Set(i/a.Layer.In, i%a.Layer.In, float64(v))
	}
	return w
}

// subtractFromBase sets W ← W − scale·B·A, the residual that keeps the adapted
// layer's output equal to the base layer's at initialisation.
func (a *Adapter) subtractFromBase() {
	d := a.Delta()
	for i, v := range d {
		a.Layer.W.Data[i] -= v
	}
}

// initPiSSA is PEFT's pissa init: W = U·S·Vᵀ (full SVD), S_r = S[:r]/scale,
// A = diag(√S_r)·Vᵀ[:r], B = U[:, :r]·diag(√S_r), W ← W − scale·B·A.
func (a *Adapter) initPiSSA() error {
	r := a.R
	if r > min(a.Layer.In, a.Layer.Out) {
		return fmt.Errorf("lora: %s: pissa needs r ≤ min(in, out) = %d, got r = %d", a.Layer.Name, min(a.Layer.In, a.Layer.Out), r)
	}
	var svd mat.SVD
	if !svd.Factorize(a.weight64(), mat.SVDThin) {
		return fmt.Errorf("lora: %s: SVD of the base weight failed (non-finite weights?)", a.Layer.Name)
	}
	s := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	in, out := a.Layer.In, a.Layer.Out
	for j := 0; j < r; j++ {
		sq := math.Sqrt(s[j] / float64(a.Scale))
		for c := 0; c < in; c++ {
			a.A.Data[j*in+c] = float32(sq * v.At(c, j))
		}
		for o := 0; o < out; o++ {
			a.B.Data[o*r+j] = float32(u.At(o, j) * sq)
		}
	}
	a.subtractFromBase()
	return nil
}

// initOLoRA is PEFT's olora init: W = Q·R (reduced QR, k = min(out, in)),
// B = Q[:, :r], A = R[:r], W ← W − scale·B·A. The QR is LAPACK's Householder
// dgeqrf/dorgqr (gonum), as torch.linalg.qr uses, so wide weights work too.
func (a *Adapter) initOLoRA() error {
	r := a.R
	in, out := a.Layer.In, a.Layer.Out
	k := min(in, out)
	if r > k {
		return fmt.Errorf("lora: %s: olora needs r ≤ min(in, out) = %d, got r = %d", a.Layer.Name, k, r)
	}
	w := make([]float64, out*in)
	for i, v := range a.Layer.W.Data {
		w[i] = float64(v)
	}
	A := blas64.General{Rows: out, Cols: in, Stride: in, Data: w}
	tau := make([]float64, k)
	query := []float64{0}
	lapack64.Geqrf(A, tau, query, -1)
	work := make([]float64, max(int(query[0]), out, in))
	lapack64.Geqrf(A, tau, work, len(work))
	// R is the upper trapezoid of the factored matrix; A = its first r rows.
	for j := 0; j < r; j++ {
		for c := 0; c < in; c++ {
			v := 0.0
			if c >= j {
				v = w[j*in+c]
			}
			a.A.Data[j*in+c] = float32(v)
		}
	}
	// Q (out, k) from the reflectors stored below the diagonal.
	q := make([]float64, out*k)
	for i := 0; i < out; i++ {
		copy(q[i*k:(i+1)*k], w[i*in:i*in+k])
	}
	Q := blas64.General{Rows: out, Cols: k, Stride: k, Data: q}
	lapack64.Orgqr(Q, tau, query, -1)
	if n := int(query[0]); n > len(work) {
		work = make([]float64, n)
	}
	lapack64.Orgqr(Q, tau, work, len(work))
	for o := 0; o < out; o++ {
		for j := 0; j < r; j++ {
			a.B.Data[o*r+j] = float32(q[o*k+j])
		}
	}
	a.subtractFromBase()
	return nil
}

// initPreset sets A from given rows (EVA) and B = 0.
func (a *Adapter) initPreset(rows []float32) error {
	if len(rows) != a.R*a.Layer.In {
		return fmt.Errorf("lora: %s: eva init has %d values; want rank %d × in %d", a.Layer.Name, len(rows), a.R, a.Layer.In)
	}
	copy(a.A.Data, rows)
	clear(a.B.Data)
	return nil
}
