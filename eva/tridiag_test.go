package eva

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// reduce and applyQ factor A = Q·T·Qᵀ: with Q formed by applying it to the
// identity, QᵀQ = I and Q·T·Qᵀ = A to 1e-13·‖A‖, across panel boundaries (the
// panel is 32 columns wide).
func TestTridiagFactorsA(t *testing.T) {
	for _, n := range []int{1, 2, 3, 31, 33, 70} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 41))
			a := gram(rng, n+5, n, func(j int) float64 { return 1 + float64(j%7) })
			work := append([]float64(nil), a...)
			tr := newTridiag(n)
			d, e := make([]float64, n), make([]float64, max(n-1, 1))
			tr.reduce(work, d, e)
			q := make([]float64, n*n)
			for i := 0; i < n; i++ {
				q[i*n+i] = 1
			}
			if n > 1 {
				tr.applyQ(n, q)
			}
			var norm, worstQ, worstA float64
			for _, v := range a {
				norm = max(norm, math.Abs(v))
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					var qq, qtq float64
					for l := 0; l < n; l++ {
						qq += q[l*n+i] * q[l*n+j]
						// (Q·T·Qᵀ)[i][j] = Σ_l Σ_m Q[i][l]·T[l][m]·Q[j][m], T tridiagonal
						tq := d[l] * q[j*n+l]
						if l > 0 {
							tq += e[l-1] * q[j*n+l-1]
						}
						if l < n-1 {
							tq += e[l] * q[j*n+l+1]
						}
						qtq += q[i*n+l] * tq
					}
					want := 0.0
					if i == j {
						want = 1
					}
					worstQ = max(worstQ, math.Abs(qq-want))
					worstA = max(worstA, math.Abs(qtq-a[i*n+j]))
				}
			}
			if worstQ > 1e-13 || worstA > 1e-13*norm*float64(n) {
				t.Fatalf("|QᵀQ − I| = %.2g, |Q·T·Qᵀ − A| = %.2g (‖A‖max %.3g)", worstQ, worstA, norm)
			}
		})
	}
}
