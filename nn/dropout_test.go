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

// TestDropoutMaskStatistics: the hash-based mask drops P of the elements, and
// neighbouring elements, and the masks of neighbouring seeds, drop together at the
// rate P² that independence gives (binomial tolerances of about four standard
// deviations over 2¹⁸ elements); the vector kernel equals the Go loop bit for bit
// from any first index.
func TestDropoutMaskStatistics(t *testing.T) {
	const n, p = 1 << 18, 0.1
	a, b := dropoutMaskNaive(p, 12345, n), dropoutMaskNaive(p, 12346, n)
	var drops, pairs, overlap int
	for i := range a {
		if a[i] == 0 {
			drops++
			if i+1 < n && a[i+1] == 0 {
				pairs++
			}
			if b[i] == 0 {
				overlap++
			}
		}
	}
	check := func(what string, got int, want float64) {
		sd := math.Sqrt(want * n * (1 - want))
		if math.Abs(float64(got)-want*n) > 4*sd {
			t.Errorf("%s: %d of %d, want %.0f ± %.0f", what, got, n, want*n, 4*sd)
		}
	}
	check("dropped", drops, p)
	check("neighbours both dropped", pairs, p*p)
	check("dropped under both seeds", overlap, p*p)

	rng := rand.New(rand.NewPCG(8, 9))
	x, res := randn(rng, 45, 1), randn(rng, 45, 1)
	k := dropConsts{seedLo: 0xdeadbeef, seedHi: 0x12345678, thrFlip: uint32(1288490188) ^ 1<<31, keep: 1 / 0.7}
	for _, withRes := range []bool{false, true} {
		r := res
		if !withRes {
			r = nil
		}
		got, want := make([]float32, 45), make([]float32, 45)
		done := dropoutVec(x[3:], r[min(len(r), 3):], got[3:], 1001, &k)
		if r != nil {
			dropoutGo(x[3+done:], r[3+done:], got[3+done:], 1001+done, &k)
		} else {
			dropoutGo(x[3+done:], nil, got[3+done:], 1001+done, &k)
		}
		dropoutGo(x[3:], r[min(len(r), 3):], want[3:], 1001, &k)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("res %v: element %d: vector %v, Go %v", withRes, i, got[i], want[i])
			}
		}
	}
}
