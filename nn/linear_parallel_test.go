package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// parallelSgemm must give exactly what one Sgemm call gives, for every transpose and
// with padded leading dimensions, on a product large enough to be split.
func TestParallelSgemmMatchesSerial(t *testing.T) {
	const m, n, k, pad = 70, 65, 64, 3
	if m*n*k < ParallelMinMACs {
		t.Fatal("test product too small to be split")
	}
	rng := rand.New(rand.NewPCG(51, 52))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			t.Run(fmt.Sprintf("transA=%v,transB=%v", ta, tb), func(t *testing.T) {
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				lda, ldb, ldc := ac+pad, bc+pad, n+pad
				a, b := randn(rng, ar*lda, 1), randn(rng, br*ldb, 1)
				c0 := randn(rng, m*ldc, 1)
				want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
				loopGemm{}.Sgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 2, want, ldc)
				parallelSgemm(loopGemm{}, ta, tb, m, n, k, 0.5, a, lda, b, ldb, 2, got, ldc)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("c[%d] = %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}
