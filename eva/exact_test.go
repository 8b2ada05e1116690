package eva

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/evarl/evarl/nn"
)

func fitExact(t *testing.T, x []float32, n, d, k, batch int) *ExactPCA {
	return fitExactWith(t, nil, x, n, d, k, batch)
}

func fitExactWith(t *testing.T, kern nn.Float64Kernels, x []float32, n, d, k, batch int) *ExactPCA {
	t.Helper()
	p := NewExactPCA(k, d)
	p.Kernels = kern
	fitBatches(t, p, x, n, d, batch)
	return p
}

// float64Backends are the kernel sets the exact PCA runs on: gonum's (nil) and,
// where the OpenBLAS backend loads, its dsyrk_ and dsyevr_ (package nn tests that
// Debian's library has them).
func float64Backends(t testing.TB) map[string]nn.Float64Kernels {
	t.Helper()
	b := map[string]nn.Float64Kernels{"gonum": nil}
	sel, err := nn.SelectGemm(nn.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	if k := nn.Float64KernelsOf(sel.Gemm); k != nil {
		b["openblas"] = k
	} else {
		t.Logf("no float64 kernels on backend %s (%v): gonum only", sel.Gemm.Name(), sel.Fallback)
	}
	return b
}

// The exact streaming PCA is the batch PCA of all rows seen (gonum's LAPACK SVD of
// the centred rows), to rounding, for every batch size: components (signed, the
// same sign convention) to 1 − cos < 1e-10, ratios, mean and variance to 1e-10
// relative. An offset of 1e4 against a spread of order 1 checks that the pairwise
// (Chan et al.) merge does not lose the spread to cancellation.
func TestExactPCAMatchesBatchSVD(t *testing.T) {
	for name, kern := range float64Backends(t) {
		t.Run(name, func(t *testing.T) { testExactPCAMatchesBatchSVD(t, kern) })
	}
}

func testExactPCAMatchesBatchSVD(t *testing.T, kern nn.Float64Kernels) {
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
				p := fitExactWith(t, kern, x, n, d, k, batch)
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
	for name, kern := range float64Backends(t) {
		t.Run(name, func(t *testing.T) {
			checkOrderIndependence(t, func(x []float32, n, d, k, batch int) *Estimate {
				return &fitExactWith(t, kern, x, n, d, k, batch).Estimate
			}, 8, 1e-10, 1e-12)
		})
	}
}

func TestExactPCASignConventionAndOrthonormality(t *testing.T) {
	const n, d, k = 500, 12, 6
	rng := rand.New(rand.NewPCG(5, 6))
	x := lowRankData(rng, n, d, spectrum[:5], 0.1)
	for name, kern := range float64Backends(t) {
		t.Run(name, func(t *testing.T) {
			checkSignAndOrthonormal(t, &fitExactWith(t, kern, x, n, d, k, 50).Estimate, 1e-12)
		})
	}
}

// The two kernel sets agree on widths and ranks of the shipped policies (the
// attention and MLP inputs, the gridworld state) to rounding: the OpenBLAS path
// changes nothing a float32 adapter can see.
func TestExactPCAKernelsAgree(t *testing.T) {
	backends := float64Backends(t)
	ob, ok := backends["openblas"]
	if !ok {
		t.Skip("OpenBLAS not installed")
	}
	for _, tc := range []struct{ d, k, batch int }{{64, 8, 480}, {204, 8, 160}, {256, 16, 480}, {3, 3, 16}} {
		rng := rand.New(rand.NewPCG(uint64(tc.d), 9))
		n := 4 * tc.batch
		x := lowRankData(rng, n, tc.d, spectrum, 0.3)
		a := fitExactWith(t, nil, x, n, tc.d, tc.k, tc.batch)
		b := fitExactWith(t, ob, x, n, tc.d, tc.k, tc.batch)
		for c := 0; c < tc.k; c++ {
			cs := cosine(a.Components[c*tc.d:(c+1)*tc.d], b.Components[c*tc.d:(c+1)*tc.d])
			dr := math.Abs(a.ExplainedVarianceRatio[c]-b.ExplainedVarianceRatio[c]) / a.ExplainedVarianceRatio[c]
			if 1-cs > 1e-12 || dr > 1e-12 {
				t.Errorf("d %d: component %d: cos %.16f, ratio %.16g vs %.16g", tc.d, c, cs, a.ExplainedVarianceRatio[c], b.ExplainedVarianceRatio[c])
			}
		}
	}
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

// Features that never vary are left out of the eigendecomposition (topEigen): the
// components still equal the batch SVD's, their entries there are exactly 0, and a
// feature that starts varying in a later minibatch enters from then on. Widths on
// both sides of kernelEigenMinD run both eigensolvers.
func TestExactPCAConstantFeatures(t *testing.T) {
	for name, kern := range float64Backends(t) {
		for _, d := range []int{24, 160} {
			t.Run(fmt.Sprintf("%s/d%d", name, d), func(t *testing.T) {
				const n, k, batch = 1600, 8, 200
				rng := rand.New(rand.NewPCG(uint64(d), 11))
				x := lowRankData(rng, n, d, spectrum, 0.2)
				late := 3 * (d / 6) // late+1 is zero in the first half of the rows, varying after
				for i := 0; i < n; i++ {
					for j := 0; j < d; j += 3 {
						x[i*d+j] = 0 // never varies
					}
					if i < n/2 {
						x[i*d+late+1] = 0
					}
				}
				half := fitExactWith(t, kern, x[:n/2*d], n/2, d, k, batch)
				for c := 0; c < k; c++ {
					if v := half.Components[c*d+late+1]; v != 0 {
						t.Errorf("first half: component %d has %g at the feature that has not varied yet", c, v)
					}
				}
				p := fitExactWith(t, kern, x, n, d, k, batch)
				refC, refR, _, _ := batchPCA(t, x, n, d)
				for c := 0; c < k; c++ {
					comp := p.Components[c*d : (c+1)*d]
					for j := 0; j < d; j += 3 {
						if comp[j] != 0 {
							t.Errorf("component %d: feature %d never varies but has %g", c, j, comp[j])
						}
					}
					if comp[late+1] == 0 {
						t.Errorf("component %d: the feature that varies from the second half on is still 0", c)
					}
					cs := cosine(comp, refC[c])
					dr := math.Abs(p.ExplainedVarianceRatio[c]-refR[c]) / refR[c]
					if 1-cs > 1e-10 || dr > 1e-10 {
						t.Errorf("component %d: cos %.15f, ratio %.15g vs %.15g", c, cs, p.ExplainedVarianceRatio[c], refR[c])
					}
				}
			})
		}
	}
}

// BenchmarkExactPCAKernels times the exact PCA's two float64 steps on each backend:
// the scatter update of a 480-row minibatch (the quickstart's 16 windows of 30
// tokens) and the 8 and 16 leading eigenpairs (round(r·rho) at r 8 and rho 1 or
// 2), at the widths of the shipped policies' layer inputs (64, 256; 204 for the
// gridworld state, about 117 once its constant features are left out) and around
// kernelEigenMinD:
//
//	go test ./eva -run '^$' -bench ExactPCAKernels
func BenchmarkExactPCAKernels(b *testing.B) {
	backends := float64Backends(b)
	for _, d := range []int{64, 96, 128, 204, 256} {
		const n = 480
		rng := rand.New(rand.NewPCG(uint64(d), 3))
		x := make([]float64, n*d)
		for i := range x {
			x[i] = rng.NormFloat64() * float64(1+i%d)
		}
		scatter := make([]float64, d*d)
		blas64.Syrk(blas.Trans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: x}, 0,
			blas64.Symmetric{N: d, Stride: d, Uplo: blas.Lower, Data: scatter})
		for _, name := range []string{"gonum", "openblas"} {
			kern, ok := backends[name]
			if !ok {
				continue
			}
			b.Run(fmt.Sprintf("scatter/%s/%d", name, d), func(b *testing.B) {
				c := make([]float64, d*d)
				for b.Loop() {
					if kern != nil {
						kern.AddScatter(x, n, d, c)
					} else {
						blas64.Syrk(blas.Trans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: x}, 1,
							blas64.Symmetric{N: d, Stride: d, Uplo: blas.Lower, Data: c})
					}
				}
			})
			for _, k := range []int{8, 16} {
				b.Run(fmt.Sprintf("top%d/%s/%d", k, name, d), func(b *testing.B) {
					vals, vecs, a := make([]float64, k), make([]float64, k*d), make([]float64, d*d)
					s := newSymTop(d)
					for b.Loop() {
						var ok bool
						if kern != nil {
							copy(a, scatter) // TopEigen overwrites its input
							ok = kern.TopEigen(a, d, k, vals, vecs)
						} else {
							ok = s.top(scatter, k, vals, vecs)
						}
						if !ok {
							b.Fatal("no convergence")
						}
					}
				})
			}
		}
	}
}
