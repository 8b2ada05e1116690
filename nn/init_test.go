package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKaimingUniformBound checks torch.nn.init.kaiming_uniform_'s bound,
// gain·√(3/fan_in) with gain = √(2/(1+a²)): for a = √5 it is 1/√fan_in (nn.Linear's
// and LoRA A's bound), for a = 0 (ReLU gain √2) it is √(6/fan_in).
func TestKaimingUniformBound(t *testing.T) {
	for _, tc := range []struct {
		fanIn int
		a     float64
		want  float64
	}{
		{16, math.Sqrt(5), 0.25},
		{128, math.Sqrt(5), 1 / math.Sqrt(128)},
		{6, 0, 1},
		{24, 1, 0.5 * math.Sqrt(2) / 2},
	} {
		if got := KaimingUniformBound(tc.fanIn, tc.a); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("KaimingUniformBound(%d, %v) = %v, want %v", tc.fanIn, tc.a, got, tc.want)
		}
	}
}

// TestInitDistributions draws 100 000 values and checks range and moments: the
// sample mean within 5 standard errors of 0 and the variance within 2 % of std² for
// the normal and of bound²/3 for the uniform. Same seed, same values.
func TestInitDistributions(t *testing.T) {
	const n = 100000
	moments := func(x []float32) (mean, variance, maxAbs float64) {
		for _, v := range x {
			mean += float64(v)
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		}
		mean /= n
		for _, v := range x {
			variance += (float64(v) - mean) * (float64(v) - mean)
		}
		return mean, variance / n, maxAbs
	}
	x := make([]float32, n)
	InitNormal(rand.New(rand.NewPCG(1, 2)), x, 0.02)
	if mean, variance, _ := moments(x); math.Abs(mean) > 5*0.02/math.Sqrt(n) || math.Abs(variance/0.0004-1) > 0.02 {
		t.Errorf("InitNormal(std 0.02): mean %g, variance %g; want ≈0, 4e-4", mean, variance)
	}
	y := make([]float32, n)
	InitNormal(rand.New(rand.NewPCG(1, 2)), y, 0.02)
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("InitNormal with the same seed differs at %d", i)
		}
	}
	bound := KaimingUniformBound(64, math.Sqrt(5))
	InitKaimingUniform(rand.New(rand.NewPCG(3, 4)), x, 64, math.Sqrt(5))
	mean, variance, maxAbs := moments(x)
	if maxAbs > bound || maxAbs < 0.99*bound {
		t.Errorf("InitKaimingUniform: max |x| %g, want just under the bound %g", maxAbs, bound)
	}
	if sd := bound / math.Sqrt(3); math.Abs(mean) > 5*sd/math.Sqrt(n) || math.Abs(variance/(sd*sd)-1) > 0.02 {
		t.Errorf("InitKaimingUniform: mean %g, variance %g; want ≈0, %g", mean, variance, sd*sd)
	}
}
