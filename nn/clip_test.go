package nn

import (
	"math"
	"testing"
)

// TestClipGradNorm checks a hand-computed case: gradients (3, 4) and (12) have
// global norm √(9+16+144) = 13. With maxNorm 6.5 every gradient is scaled by
// 6.5/(13+1e-6) ≈ ½; with maxNorm 20 nothing changes. A frozen parameter (no Grad)
// takes no part.
func TestClipGradNorm(t *testing.T) {
	for _, tc := range []struct {
		maxNorm float64
		scale   float64
	}{
		{6.5, 6.5 / (13 + 1e-6)},
		{20, 1},
		{13, 13 / (13 + 1e-6)}, // < 1: scaled by a hair, as torch does
	} {
		a, b, frozen := NewParam("a", 2), NewParam("b", 1), NewParam("f", 3)
		copy(a.Grad, []float32{3, 4})
		b.Grad[0] = 12
		frozen.SetTrainable(false)
		norm := ClipGradNorm([]*Param{a, frozen, b}, tc.maxNorm)
		if math.Abs(norm-13) > 1e-12 {
			t.Errorf("maxNorm %v: returned norm %v, want 13 (before clipping)", tc.maxNorm, norm)
		}
		want := []float64{3 * tc.scale, 4 * tc.scale, 12 * tc.scale}
		got := []float32{a.Grad[0], a.Grad[1], b.Grad[0]}
		for i := range got {
			if math.Abs(float64(got[i])-want[i]) > 1e-6*want[i] {
				t.Errorf("maxNorm %v: grad %d = %v, want %v", tc.maxNorm, i, got[i], want[i])
			}
		}
	}
}

func TestClipGradNormNonFinite(t *testing.T) {
	a := NewParam("a", 3)
	copy(a.Grad, []float32{1, float32(math.Inf(1)), 2})
	if norm := ClipGradNorm([]*Param{a}, 1); !math.IsInf(norm, 1) {
		t.Errorf("norm %v, want +Inf", norm)
	}
	if a.Grad[0] != 1 || a.Grad[2] != 2 {
		t.Errorf("gradients changed on a non-finite norm: %v", a.Grad)
	}
}
