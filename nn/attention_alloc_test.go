//go:build !race

// The race detector's runtime allocates on its own, so allocation counts are only
// checked without it.

package nn

import (
	"math/rand/v2"
	"testing"
)

// After a warm-up pass, a forward and backward of attention (with dropout on the
// probabilities) and of GELU allocate nothing, on shapes large enough to take every
// parallel path: a split product, split heads and split elementwise work.
func TestNoAllocationsAfterWarmUp(t *testing.T) {
	const b, tt, c, nHead = 8, 32, 32, 4 // b·tt·c·c = 262144 = ParallelMinMACs
	a := newTestAttention(61, c, nHead)
	a.Drop = NewDropout(0.1, rand.New(rand.NewPCG(62, 63)))
	rng := rand.New(rand.NewPCG(64, 65))
	x, dout := randn(rng, b*tt*c, 1), randn(rng, b*tt*c, 1)
	out, dx := make([]float32, b*tt*c), make([]float32, b*tt*c)
	mask := make([]bool, b*tt)
	for i := range mask {
		mask[i] = i%tt >= 3
	}
	g := randn(rng, 2*ParallelMinElems, 1)
	gy, gdx := make([]float32, len(g)), make([]float32, len(g))
	step := func() {
		a.Forward(x, out, b, tt, mask)
		a.Backward(x, dout, dx, b, tt)
		GELUForward(g, gy)
		GELUBackward(g, gy, gdx)
	}
	step()
	if n := testing.AllocsPerRun(3, step); n != 0 {
		t.Errorf("%v allocations per step after warm-up, want 0", n)
	}
}
