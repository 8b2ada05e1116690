package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGELUVectorAndGoTwins holds both implementations of each GELU kernel (the
// vector one where the CPU has it, and the plain-Go loop) to the textbook formula in
// float64, on lengths around the vector width and on special values: zero, the tiny
// inputs where the backward kernel switches to σ(2u) = ½, the flat tails and the
// clamps of the exponential, and NaN (which must come out as NaN).
func TestGELUVectorAndGoTwins(t *testing.T) {
	special := []float32{0, 1e-31, -1e-31, 1e-30, 3, -3, 9, -9, 20, -20, 87, -87, 1e4, -1e4}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 7, 8, 9, 16, 23, 100, len(special)} {
		x := randn(rng, n, 3)
		if n == len(special) {
			copy(x, special)
		}
		dy, dx0 := randn(rng, n, 1), randn(rng, n, 1)
		want, wantDx := make([]float64, n), make([]float64, n)
		for i, v := range x {
			xv := float64(v)
			th := math.Tanh(geluK * (xv + 0.044715*xv*xv*xv))
			want[i] = 0.5 * xv * (1 + th)
			d := 0.5*(1+th) + 0.5*xv*(1-th*th)*geluK*(1+3*0.044715*xv*xv)
			wantDx[i] = float64(dx0[i]) + float64(dy[i])*d
		}
		impls := []struct {
			name     string
			forward  func(x, y []float32) bool
			backward func(x, y, dy, dx []float32) bool
		}{
			{"go", func(x, y []float32) bool { geluForwardGo(x, y); return true },
				func(x, y, dy, dx []float32) bool { geluBackwardWithOutputGo(x, y, dy, dx); return true }},
			{"vector", geluForwardVec, geluBackwardOutVec},
		}
		for _, im := range impls {
			y := make([]float32, n+1)
			y[n] = 42 // past the end: must stay
			if !im.forward(x, y[:n]) {
				t.Logf("%s: not available on this CPU", im.name)
				continue
			}
			if y[n] != 42 {
				t.Errorf("%s n=%d: forward wrote past the end", im.name, n)
			}
			dx := append(append([]float32(nil), dx0...), 42)
			im.backward(x, y[:n], dy, dx[:n])
			if dx[n] != 42 {
				t.Errorf("%s n=%d: backward wrote past the end", im.name, n)
			}
			for i, v := range x {
				if d := math.Abs(float64(y[i]) - want[i]); !(d <= 1e-6*math.Max(1, math.Abs(want[i]))) {
					t.Errorf("%s n=%d: gelu(%v) = %v, want %v", im.name, n, v, y[i], want[i])
				}
				if d := math.Abs(float64(dx[i]) - wantDx[i]); !(d <= 1e-5*math.Max(1, math.Abs(wantDx[i]))) {
					t.Errorf("%s n=%d: dx at x = %v is %v, want %v", im.name, n, v, dx[i], wantDx[i])
				}
			}
		}
	}
	nan := float32(math.NaN())
	x := []float32{nan, 1, 1, 1, 1, 1, 1, 1, nan} // in the vector body and in the tail
	y := make([]float32, len(x))
	geluForwardGo(x, y)
	if !math.IsNaN(float64(y[0])) || !math.IsNaN(float64(y[8])) {
		t.Errorf("go: gelu(NaN) = %v, %v, want NaN", y[0], y[8])
	}
	if clear(y); geluForwardVec(x, y) && (!math.IsNaN(float64(y[0])) || !math.IsNaN(float64(y[8]))) {
		t.Errorf("vector: gelu(NaN) = %v, %v, want NaN", y[0], y[8])
	}
}

// TestSoftmaxAndLayerNormVectorTwins holds the vector exponential and LayerNorm rows
// to their plain-Go twins, on rows whose widths are and are not multiples of 8.
func TestSoftmaxAndLayerNormVectorTwins(t *testing.T) {
	if !haveVector {
		t.Skip("no AVX2+FMA on this CPU")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 5, 8, 13, 60} {
		x := randn(rng, n, 4)
		x[0] = -100 // below the clamp
		got, want := append([]float32(nil), x...), make([]float32, n)
		expShiftVec(got, 1.5)
		for i, v := range x {
			want[i] = expNarrow(v - 1.5)
		}
		assertClose(t, "exp", got, to64(want), 1e-37, 4e-7)
	}
	for _, c := range []int{8, 64, 128} {
		x, w, b := randn(rng, c, 2), randn(rng, c, 1), randn(rng, c, 1)
		for i := range x {
			x[i] += 4
		}
		y, wantY := make([]float32, c), make([]float32, c)
		m, rs, ok := layerNormRowVec(x, y, w, b, 1e-5)
		wm, wrs := layerNormRowGo(x, wantY, w, b, 1e-5)
		if !ok {
			t.Fatalf("c=%d: no vector row", c)
		}
		if math.Abs(float64(m-wm)) > 1e-5*math.Abs(float64(wm)) || math.Abs(float64(rs-wrs)) > 1e-5*float64(wrs) {
			t.Errorf("c=%d: mean, 1/σ = %v, %v; Go %v, %v", c, m, rs, wm, wrs)
		}
		assertClose(t, "y", y, to64(wantY), 1e-5, 1e-5)
		dy := randn(rng, c, 1)
		for _, nils := range []struct{ dx, dw, db bool }{{}, {dx: true}, {dw: true, db: true}, {dw: true}} {
			mk := func(isNil bool, seed []float32) (a, b []float32) {
				if isNil {
					return nil, nil
				}
				return append([]float32(nil), seed...), append([]float32(nil), seed...)
			}
			base := randn(rng, c, 1)
			dx, wdx := mk(nils.dx, base)
			dw, wdw := mk(nils.dw, base)
			db, wdb := mk(nils.db, base)
			layerNormRowBackwardVec(x, dy, dx, w, dw, db, wm, wrs)
			layerNormRowBackwardGo(x, dy, wdx, w, wdw, wdb, wm, wrs)
			for _, p := range []struct {
				name      string
				got, want []float32
			}{{"dx", dx, wdx}, {"dw", dw, wdw}, {"db", db, wdb}} {
				if p.got != nil {
					assertClose(t, fmt.Sprintf("c=%d %s (nil dx %v dw %v db %v)", c, p.name, nils.dx, nils.dw, nils.db), p.got, to64(p.want), 1e-5, 1e-5)
				}
			}
		}
	}
	if _, _, ok := layerNormRowVec(make([]float32, 7), make([]float32, 7), make([]float32, 7), make([]float32, 7), 1e-5); ok {
		t.Error("a width of 7 ran on the vector row")
	}
}

// TestAdamWVectorTwin: the vector update is bit-identical to the Go loop (same order
// of operations, no fused multiply-add), with and without weight decay.
func TestAdamWVectorTwin(t *testing.T) {
	if !haveVector {
		t.Skip("no AVX2+FMA on this CPU")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for _, keep := range []float32{1, 0.999} {
		n := 37
		w, g := randn(rng, n, 1), randn(rng, n, 0.1)
		m, v := randn(rng, n, 0.01), make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Float64() * 1e-3)
		}
		k := adamConsts{b1: 0.9, b2: 0.999, c1: 0.1, c2: 0.001, step: 1e-3, invSqrtBC2: 3.1, eps: 1e-8, keep: keep}
		w2, m2, v2 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
		done := adamWVec(w, g, m, v, &k)
		if done != 32 {
			t.Fatalf("vector part %d, want 32", done)
		}
		adamWGo(w[done:], g[done:], m[done:], v[done:], &k)
		adamWGo(w2, g, m2, v2, &k)
		for i := range w {
			if w[i] != w2[i] || m[i] != m2[i] || v[i] != v2[i] {
				t.Fatalf("keep %v, element %d: vector (%v, %v, %v), Go (%v, %v, %v)", keep, i, w[i], m[i], v[i], w2[i], m2[i], v2[i])
			}
		}
	}
}
