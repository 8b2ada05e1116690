package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestDropout(t *testing.T) {
	const n, p = 20000, 0.25
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%7) + 1 // never zero, so a zero output means dropped
	}
	d := NewDropout(p, rand.New(rand.NewPCG(15, 16)))
	y := make([]float32, n)
	d.Forward(x, y)
	dropped := 0
	for i := range y {
		switch {
		case y[i] == 0:
			dropped++
		case math.Abs(float64(y[i]-x[i]/(1-p))) > 1e-6:
			t.Fatalf("y[%d] = %v, want 0 or x/(1−p) = %v", i, y[i], x[i]/(1-p))
		}
	}
	// Binomial(n, p): the standard deviation of the dropped fraction is √(p(1−p)/n) ≈ 0.003.
	if frac := float64(dropped) / n; math.Abs(frac-p) > 0.015 {
		t.Errorf("dropped fraction %.4f, want %.2f ± 0.015", frac, p)
	}

	dy := make([]float32, n)
	for i := range dy {
		dy[i] = 1
	}
	dx := make([]float32, n)
	d.Backward(dy, dx)
	for i := range dx {
		want := float32(1 / (1 - p))
		if y[i] == 0 {
			want = 0
		}
		if dx[i] != want {
			t.Fatalf("dx[%d] = %v, want %v (the forward mask)", i, dx[i], want)
		}
	}

	// The same seed gives the same mask.
	d2 := NewDropout(p, rand.New(rand.NewPCG(15, 16)))
	y2 := make([]float32, n)
	d2.Forward(x, y2)
	if !slices.Equal(y, y2) {
		t.Error("same seed, different masks")
	}

	// Evaluation mode is the identity both ways.
	d.Train = false
	d.Forward(x, y)
	if !slices.Equal(y, x) {
		t.Error("eval Forward is not the identity")
	}
	clear(dx)
	d.Backward(dy, dx)
	if !slices.Equal(dx, dy) {
		t.Error("eval Backward is not the identity")
	}
}

// TestDropoutMaskTwin: Forward, ForwardAdd and Backward apply the mask of the naive
// twin, on a slice long enough to be split across the workers and with odd lengths
// (the last element of a pair), and two Forwards draw different masks.
func TestDropoutMaskTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 2*ParallelMinElems + 3} {
		d := NewDropout(0.3, rng)
		x, res, dy := randn(rng, n, 1), randn(rng, n, 1), randn(rng, n, 1)
		y := make([]float32, n)
		d.Forward(x, y)
		mask := d.lastMask()
		for i := range y {
			if y[i] != x[i]*mask[i] {
				t.Fatalf("n=%d: y[%d] = %v, want x·mask = %v", n, i, y[i], x[i]*mask[i])
			}
		}
		dx := append([]float32(nil), res...)
		d.Backward(dy, dx)
		for i := range dx {
			if dx[i] != res[i]+dy[i]*mask[i] {
				t.Fatalf("n=%d: dx[%d] = %v, want %v", n, i, dx[i], res[i]+dy[i]*mask[i])
			}
		}
		d.ForwardAdd(x, res, y)
		mask2 := d.lastMask()
		same := true
		for i := range y {
			if y[i] != res[i]+x[i]*mask2[i] {
				t.Fatalf("n=%d: ForwardAdd y[%d] = %v, want %v", n, i, y[i], res[i]+x[i]*mask2[i])
			}
			same = same && mask[i] == mask2[i]
		}
		if same && n > 16 {
			t.Errorf("n=%d: two Forwards drew the same mask", n)
		}
		d.Train = false
		d.ForwardAdd(x, res, y)
		for i := range y {
			if y[i] != res[i]+x[i] {
				t.Fatalf("eval ForwardAdd y[%d] = %v, want %v", i, y[i], res[i]+x[i])
			}
		}
	}
}

// BenchmarkDropout is one residual-branch dropout of the reference model (B=64,
// T=60, C=128, p = 0.1): ForwardAdd and Backward.
func BenchmarkDropout(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 64 * 60 * 128
	x, res, y, dx := randn(rng, n, 1), randn(rng, n, 1), make([]float32, n), make([]float32, n)
	d := NewDropout(0.1, rng)
	b.ReportAllocs()
	for b.Loop() {
		d.ForwardAdd(x, res, y)
		d.Backward(y, dx)
	}
}
