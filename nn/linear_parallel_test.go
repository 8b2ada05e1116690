package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
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

// Several goroutines sharing the pool (as the policy's data-parallel lanes do) get
// exactly the results each gets alone: the pool neither mixes up nor drops shares.
func TestPoolConcurrentCallers(t *testing.T) {
	const callers, b, tt, c, nHead = 3, 8, 32, 32, 4 // large enough for every split
	type run struct {
		a      *Attention
		x, out []float32
		dx     []float32
		g, gy  []float32
	}
	newRun := func(seed uint64) *run {
		rng := rand.New(rand.NewPCG(seed, 70))
		r := &run{a: newTestAttention(seed, c, nHead), x: randn(rng, b*tt*c, 1),
			out: make([]float32, b*tt*c), dx: make([]float32, b*tt*c),
			g: randn(rng, ParallelMinElems+5, 1), gy: make([]float32, ParallelMinElems+5)}
		return r
	}
	step := func(r *run) {
		for _, p := range r.a.Params() {
			p.ZeroGrad()
		}
		clear(r.dx)
		r.a.Forward(r.x, r.out, b, tt, nil)
		r.a.Backward(r.x, r.out, r.dx, b, tt) // out doubles as the upstream gradient
		GELUForward(r.g, r.gy)
	}
	alone := make([]*run, callers)
	for i := range alone {
		alone[i] = newRun(uint64(80 + i))
		step(alone[i])
	}
	together := make([]*run, callers)
	done := make(chan int)
	for i := range together {
		together[i] = newRun(uint64(80 + i))
		go func() {
			for range 5 { // repeated, to overlap with the others
				step(together[i])
			}
			done <- i
		}()
	}
	for range callers {
		<-done
	}
	for i := range together {
		for k, p := range together[i].a.Params() {
			if !slices.Equal(p.Grad, alone[i].a.Params()[k].Grad) {
				t.Errorf("caller %d: %s gradient differs when run concurrently", i, p.Name)
			}
		}
		if !slices.Equal(together[i].out, alone[i].out) || !slices.Equal(together[i].dx, alone[i].dx) ||
			!slices.Equal(together[i].gy, alone[i].gy) {
			t.Errorf("caller %d: outputs differ when run concurrently", i)
		}
	}
}
