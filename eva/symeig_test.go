package eva

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// withSpectrum returns Q·diag(lambda)·Qᵀ for a random orthogonal Q (the Q of a
// Gaussian matrix's QR), row-major d×d.
func withSpectrum(rng *rand.Rand, lambda []float64) []float64 {
	d := len(lambda)
	g := blas64.General{Rows: d, Cols: d, Stride: d, Data: make([]float64, d*d)}
	for i := range g.Data {
		g.Data[i] = rng.NormFloat64()
	}
	tau := make([]float64, d)
	work := make([]float64, 64*d)
	lapack64.Geqrf(g, tau, work, len(work))
	lapack64.Orgqr(g, tau, work, len(work))
	a := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			var v float64
			for l, lm := range lambda {
				v += g.Data[i*d+l] * lm * g.Data[j*d+l]
			}
			a[i*d+j] = v
		}
	}
	return a
}

// gram returns XᵀX of n Gaussian rows of d columns, scaled per column by std.
func gram(rng *rand.Rand, n, d int, std func(j int) float64) []float64 {
	x := make([]float64, n*d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x[i*d+j] = std(j) * rng.NormFloat64()
		}
	}
	a := make([]float64, d*d)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: x},
		blas64.General{Rows: n, Cols: d, Stride: d, Data: x}, 0, blas64.General{Rows: d, Cols: d, Stride: d, Data: a})
	return a
}

// syevTop is the naive twin: gonum's full symmetric eigensolver (dsyev), the k
// largest eigenpairs, descending, eigenvectors as rows.
func syevTop(t *testing.T, a []float64, d, k int) (vals, vecs []float64) {
	t.Helper()
	s := blas64.Symmetric{N: d, Stride: d, Uplo: blas.Lower, Data: append([]float64(nil), a...)}
	w := make([]float64, d)
	query := []float64{0}
	lapack64.Syev(lapack.EVCompute, s, w, query, -1)
	work := make([]float64, int(query[0]))
	if !lapack64.Syev(lapack.EVCompute, s, w, work, len(work)) {
		t.Fatal("dsyev did not converge")
	}
	for j := 0; j < k; j++ {
		c := d - 1 - j
		vals = append(vals, w[c])
		for i := 0; i < d; i++ {
			vecs = append(vecs, s.Data[i*d+c])
		}
	}
	return vals, vecs
}

func TestSymTopMatchesDsyev(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	ones := func(int) float64 { return 1 }
	tests := []struct {
		name string
		d, k int
		a    []float64
		// gapAt: the k is at a gap of the spectrum, so the leading subspace is
		// well defined; distinct: every one of the k eigenvalues is simple, so each
		// vector is (up to sign).
		distinct bool
	}{
		{"1×1", 1, 1, []float64{3}, true},
		{"2×2", 2, 2, []float64{2, 1, 1, 2}, true},
		{"gram 24", 24, 8, gram(rng, 100, 24, func(j int) float64 { return 1 + float64(j) }), true},
		{"gram 64, all", 64, 64, gram(rng, 500, 64, ones), false},
		{"gram 33 (one full panel)", 33, 10, gram(rng, 200, 33, func(j int) float64 { return 1 + float64(j) }), true},
		{"gram 34", 34, 10, gram(rng, 200, 34, func(j int) float64 { return 1 + float64(j) }), true},
		{"gram 130", 130, 16, gram(rng, 400, 130, func(j int) float64 { return 10 / (1 + float64(j)) }), true},
		{"rank-deficient 40 (10 rows)", 40, 16, gram(rng, 10, 40, ones), false},
		{"constant columns (zeros)", 20, 8, gram(rng, 60, 20, func(j int) float64 { return float64(j % 3) }), false},
		{"clusters", 30, 9, withSpectrum(rng, []float64{9, 9, 9, 5, 5, 5, 2, 2, 2, 1, 1, 1, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}), false},
		{"diagonal", 6, 4, []float64{1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 6}, true},
		{"zero", 5, 3, make([]float64, 25), false},
	}
	for _, tt := range tests {
		for _, naive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/naive=%v", tt.name, naive), func(t *testing.T) { checkSymTop(t, tt.a, tt.d, tt.k, tt.distinct, naive) })
		}
	}
}

// checkSymTop holds symTop to dsyev on a: eigenvalues to 1e-13·‖A‖, residuals to
// 1e-12·‖A‖, orthonormal vectors, and each vector of a simple eigenvalue to
// dsyev's (up to sign). Only a's lower triangle may be read: the upper one is NaN.
func checkSymTop(t *testing.T, a []float64, d, k int, distinct, naive bool) {
	s := newSymTop(d)
	s.naive = naive
	lower := append([]float64(nil), a...)
	for i := 0; i < d; i++ {
		for j := i + 1; j < d; j++ {
			lower[i*d+j] = math.NaN()
		}
	}
	vals, vecs := make([]float64, k), make([]float64, k*d)
	if !s.top(lower, k, vals, vecs) {
		t.Fatal("symTop did not converge")
	}
	wantVals, wantVecs := syevTop(t, a, d, k)
	var norm float64
	for _, v := range a {
		norm = max(norm, math.Abs(v))
	}
	norm = max(norm*float64(d), 1e-300)
	for j := 0; j < k; j++ {
		if diff := math.Abs(vals[j] - wantVals[j]); diff > 1e-13*norm {
			t.Errorf("λ%d = %.17g, dsyev %.17g (diff %.2g)", j, vals[j], wantVals[j], diff)
		}
		if j > 0 && vals[j] > vals[j-1] {
			t.Errorf("eigenvalues not descending at %d: %v", j, vals)
		}
		v := vecs[j*d : (j+1)*d]
		var res float64 // ‖A·v − λ·v‖²
		for i := 0; i < d; i++ {
			var av float64
			for l := 0; l < d; l++ {
				av += a[i*d+l] * v[l]
			}
			res += (av - vals[j]*v[i]) * (av - vals[j]*v[i])
		}
		if math.Sqrt(res) > 1e-12*norm {
			t.Errorf("vector %d: residual %.2g > 1e-12·‖A‖ (%.2g)", j, math.Sqrt(res), norm)
		}
		for l := 0; l <= j; l++ {
			var dot float64
			for i := 0; i < d; i++ {
				dot += v[i] * vecs[l*d+i]
			}
			want := 0.0
			if l == j {
				want = 1
			}
			if math.Abs(dot-want) > 1e-12 {
				t.Errorf("⟨v%d, v%d⟩ = %.3g, want %v", j, l, dot, want)
			}
		}
		if distinct {
			var dot float64
			for i := 0; i < d; i++ {
				dot += v[i] * wantVecs[j*d+i]
			}
			if 1-math.Abs(dot) > 1e-10 {
				t.Errorf("vector %d: |cos| %.12f with dsyev's", j, math.Abs(dot))
			}
		}
	}
}

// BenchmarkSymTop compares the top-16 eigensolver with gonum's full one at the
// widths of the shipped and reference models' layer inputs.
func BenchmarkSymTop(b *testing.B) {
	for _, d := range []int{64, 128, 256, 512} {
		rng := rand.New(rand.NewPCG(1, 1))
		a := gram(rng, 2*d, d, func(j int) float64 { return 10 / (1 + 0.3*float64(j)) })
		b.Run(fmt.Sprintf("top16/%d", d), func(b *testing.B) {
			s := newSymTop(d)
			vals, vecs := make([]float64, 16), make([]float64, 16*d)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if !s.top(a, 16, vals, vecs) {
					b.Fatal("no convergence")
				}
			}
		})
		b.Run(fmt.Sprintf("top16-dsytrd/%d", d), func(b *testing.B) {
			s := newSymTop(d)
			s.naive = true
			vals, vecs := make([]float64, 16), make([]float64, 16*d)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if !s.top(a, 16, vals, vecs) {
					b.Fatal("no convergence")
				}
			}
		})
		b.Run(fmt.Sprintf("dsyev/%d", d), func(b *testing.B) {
			s := blas64.Symmetric{N: d, Stride: d, Uplo: blas.Lower, Data: make([]float64, d*d)}
			w := make([]float64, d)
			query := []float64{0}
			lapack64.Syev(lapack.EVCompute, s, w, query, -1)
			work := make([]float64, int(query[0]))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(s.Data, a)
				lapack64.Syev(lapack.EVCompute, s, w, work, len(work))
			}
		})
	}
}
