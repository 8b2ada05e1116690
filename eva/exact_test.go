package eva

import (
	"math"
	"math/rand/v2"
	"testing"
)

func fitExact(t *testing.T, x []float32, n, d, k, batch int) *ExactPCA {
	t.Helper()
	p := NewExactPCA(k, d)
	fitBatches(t, p, x, n, d, batch)
	return p
}

// The exact streaming PCA is the batch PCA of all rows seen (gonum's LAPACK SVD of
// the centred rows), to rounding, for every batch size: components (signed, the
// same sign convention) to 1 − cos < 1e-10, ratios, mean and variance to 1e-10
// relative. An offset of 1e4 against a spread of order 1 checks that the pairwise
// (Chan et al.) merge does not lose the spread to cancellation.
func TestExactPCAMatchesBatchSVD(t *testing.T) {
	const n, d, k = 2400, 24, 8
	for _, tc := range []struct {
		name          string
		noise, offset float64
	}{{"noise 0.05", 0.05, 0}, {"noise 0.5", 0.5, 0}, {"offset 1e4", 0.1, 1e4}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			x := lowRankData(rng, n, d, spectrum, tc.noise)
			for i := range x {
				x[i] += float32(tc.offset)
			}
			refC, refR, refMean, refVar := batchPCA(t, x, n, d)
			for _, batch := range []int{60, 200, 800, n} {
				p := fitExact(t, x, n, d, k, batch)
				if p.Seen != n {
					t.Fatalf("batch %d: Seen = %d, want %d", batch, p.Seen, n)
				}
				for j := 0; j < d; j++ {
					if math.Abs(p.Mean[j]-refMean[j]) > 1e-12*(1+math.Abs(refMean[j])) {
						t.Errorf("batch %d: mean[%d] = %v, want %v", batch, j, p.Mean[j], refMean[j])
					}
					if math.Abs(p.Var[j]-refVar[j]) > 1e-10*refVar[j] {
						t.Errorf("batch %d: var[%d] = %v, want %v", batch, j, p.Var[j], refVar[j])
					}
				}
				worst, worstR := 1.0, 0.0
				for c := 0; c < k; c++ {
					cs := cosine(p.Components[c*d:(c+1)*d], refC[c])
					dr := math.Abs(p.ExplainedVarianceRatio[c]-refR[c]) / refR[c]
					worst, worstR = min(worst, cs), max(worstR, dr)
					if 1-cs > 1e-10 || dr > 1e-10 {
						t.Errorf("batch %d: component %d: cos %.15f, ratio %.15g vs %.15g", batch, c, cs, p.ExplainedVarianceRatio[c], refR[c])
					}
				}
				wantEV := p.Singular[0] * p.Singular[0] / float64(n-1)
				if math.Abs(p.ExplainedVariance[0]-wantEV) > 1e-12*wantEV {
					t.Errorf("batch %d: explained variance %v, want S²/(N−1) = %v", batch, p.ExplainedVariance[0], wantEV)
				}
				t.Logf("batch %4d: min cos %.15f, max relative ratio diff %.2g", batch, worst, worstR)
			}
		})
	}
}

// Row order and batch size change nothing but rounding.
func TestExactPCAOrderIndependence(t *testing.T) {
	checkOrderIndependence(t, func(x []float32, n, d, k, batch int) *Estimate {
		return &fitExact(t, x, n, d, k, batch).Estimate
	}, 8, 1e-10, 1e-12)
}

func TestExactPCASignConventionAndOrthonormality(t *testing.T) {
	const n, d, k = 500, 12, 6
	rng := rand.New(rand.NewPCG(5, 6))
	x := lowRankData(rng, n, d, spectrum[:5], 0.1)
	checkSignAndOrthonormal(t, &fitExact(t, x, n, d, k, 50).Estimate, 1e-12)
}

// With one batch the two methods decompose the same centred matrix, so IPCA (a full
// SVD of it) and the exact PCA agree to rounding.
func TestExactPCAEqualsIPCAOnOneBatch(t *testing.T) {
	const n, d, k = 300, 16, 6
	rng := rand.New(rand.NewPCG(9, 10))
	x := lowRankData(rng, n, d, spectrum, 0.2)
	a := fitExact(t, x, n, d, k, n)
	b := fitIPCA(t, x, n, d, k, n)
	for c := 0; c < k; c++ {
		if cs := cosine(a.Components[c*d:(c+1)*d], b.Components[c*d:(c+1)*d]); 1-cs > 1e-10 {
			t.Errorf("component %d: cos %.15f", c, cs)
		}
		for _, f := range []struct {
			name string
			a, b float64
		}{{"singular", a.Singular[c], b.Singular[c]}, {"variance", a.ExplainedVariance[c], b.ExplainedVariance[c]},
			{"ratio", a.ExplainedVarianceRatio[c], b.ExplainedVarianceRatio[c]}} {
			if math.Abs(f.a-f.b) > 1e-10*math.Abs(f.b) {
				t.Errorf("component %d: %s %.15g (exact) vs %.15g (incremental)", c, f.name, f.a, f.b)
			}
		}
	}
}
