package nprand

import "testing"

// Values printed by NumPy: np.random.default_rng(seed).random(3). The classic-control
// tests check the same generator against Gymnasium's recorded resets.
func TestFloat64MatchesNumPy(t *testing.T) {
	tests := []struct {
		seed uint64
		want []float64
	}{
		{0, []float64{0.6369616873214543, 0.2697867137638703, 0.04097352393619469}},
		{42, []float64{0.7739560485559633, 0.4388784397520523, 0.8585979199113825}},
	}
	for _, tc := range tests {
		g := New(tc.seed)
		for i, want := range tc.want {
			if got := g.Float64(); got != want {
				t.Errorf("default_rng(%d) draw %d = %v, want %v", tc.seed, i, got, want)
			}
		}
	}
}

func TestEntropyWords(t *testing.T) {
	tests := []struct {
		seed uint64
		want []uint32
	}{
		{0, []uint32{0}},
		{7, []uint32{7}},
		{1<<32 + 5, []uint32{5, 1}},
	}
	for _, tc := range tests {
		got := entropyWords(tc.seed)
		if len(got) != len(tc.want) {
			t.Fatalf("entropyWords(%d) = %v, want %v", tc.seed, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("entropyWords(%d) = %v, want %v", tc.seed, got, tc.want)
			}
		}
	}
}

func TestUniformRange(t *testing.T) {
	g := New(3)
	for range 1000 {
		if v := g.Uniform(-0.6, -0.4); v < -0.6 || v >= -0.4 {
			t.Fatalf("Uniform(-0.6, -0.4) = %v", v)
		}
	}
}

func BenchmarkFloat64(b *testing.B) {
	g := New(0)
	b.ReportAllocs()
	for b.Loop() {
		g.Float64()
	}
}
