package envs

import (
	"math"
	"testing"
)

func TestSpaceString(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		space Space
		want  string
	}{
		{Discrete{N: 3}, "Discrete(3)"},
		{NewBox([]float64{-1, -1}, []float64{1, 1}), "Box(-1, 1, (2,))"},
		// float32 bounds print as Gymnasium prints them.
		{NewBox([]float64{float64(float32(-4.8)), -inf}, []float64{float64(float32(4.8)), inf}), "Box([-4.8 -inf], [4.8 inf], (2,))"},
		{NewBox([]float64{0.1}, []float64{0.30000000000000004}), "Box(0.1, 0.30000000000000004, (1,))"},
	}
	for _, tc := range tests {
		if got := tc.space.String(); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestContains(t *testing.T) {
	d := Discrete{N: 3}
	b := NewBox([]float64{-1}, []float64{1})
	tests := []struct {
		space Space
		x     []float64
		want  bool
	}{
		{d, []float64{2}, true}, {d, []float64{3}, false}, {d, []float64{1.5}, false}, {d, []float64{math.NaN()}, false}, {d, nil, false},
		{b, []float64{1}, true}, {b, []float64{1.0001}, false}, {b, []float64{math.NaN()}, false}, {b, []float64{0, 0}, false},
	}
	for _, tc := range tests {
		if got := tc.space.Contains(tc.x); got != tc.want {
			t.Errorf("%v.Contains(%v) = %v, want %v", tc.space, tc.x, got, tc.want)
		}
	}
}
