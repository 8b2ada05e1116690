//go:build (linux || darwin) && !noopenblas

package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/gonum"
)

// The float64 kernels agree with gonum: AddScatter with blas64.Syrk on the lower
// triangle (the upper one untouched), TopEigen with gonum's full Dsyev on the k
// largest eigenpairs, also from concurrent goroutines (an EVA pass updates its
// layers at once). The Debian library that CI installs carries LAPACK, so a
// missing symbol is a failure, not a skip.
func TestOpenBLASFloat64Kernels(t *testing.T) {
	g := loadOpenBLASOrSkip(t)
	k := Float64KernelsOf(g)
	if k == nil {
		t.Fatalf("%s: no dsyrk_/dsyevr_, so EVA's exact PCA would fall back to gonum", g.Path())
	}
	if Float64KernelsOf(&dispatchGemm{large: g, small: GonumGemm{}, minMACs: SmallGemmMACs}) == nil {
		t.Error("the dispatching selection hides the kernels of its OpenBLAS")
	}
	if Float64KernelsOf(GonumGemm{}) != nil {
		t.Error("gonum reports float64 kernels")
	}
	var wg sync.WaitGroup
	for _, tc := range []struct{ n, d, k int }{{1, 1, 1}, {5, 3, 3}, {40, 17, 4}, {480, 64, 8}, {160, 204, 16}, {37, 100, 100}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkFloat64Kernels(t, k, tc.n, tc.d, tc.k)
		}()
	}
	wg.Wait()
}

func checkFloat64Kernels(t *testing.T, kern Float64Kernels, n, d, k int) {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(d)))
	x := make([]float64, n*d)
	for i := range x {
		x[i] = rng.NormFloat64() * float64(1+i%d)
	}
	c0 := make([]float64, d*d)
	for i := range c0 {
		c0[i] = rng.Float64()
	}
	for i := 0; i < d; i++ { // a symmetric positive start, as a scatter matrix is
		for j := 0; j < i; j++ {
			c0[i*d+j] = c0[j*d+i]
		}
		c0[i*d+i] += float64(d)
	}
	got, want := slices.Clone(c0), slices.Clone(c0)
	kern.AddScatter(x, n, d, got)
	blas64.Syrk(blas.Trans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: x}, 1,
		blas64.Symmetric{N: d, Stride: d, Uplo: blas.Lower, Data: want})
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			g, w := got[i*d+j], want[i*d+j]
			if j > i {
				w = c0[i*d+j] // the strict upper triangle is left alone
			}
			// Rounding is relative to the size of the summands, |c_ij| ≤ √(c_ii·c_jj).
			if math.Abs(g-w) > 1e-13*math.Sqrt(want[i*d+i]*want[j*d+j]) {
				t.Errorf("n %d d %d: AddScatter [%d,%d] = %v, want %v", n, d, i, j, g, w)
				return
			}
		}
	}

	// Reference eigenpairs: gonum's Dsyev of the full matrix, ascending.
	full := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			full[i*d+j], full[j*d+i] = want[i*d+j], want[i*d+j]
		}
	}
	refVals := make([]float64, d)
	work := []float64{0}
	var impl gonum.Implementation
	impl.Dsyev('V', blas.Upper, d, full, d, refVals, work, -1)
	work = make([]float64, int(work[0]))
	if !impl.Dsyev('V', blas.Upper, d, full, d, refVals, work, len(work)) {
		t.Errorf("d %d: gonum Dsyev did not converge", d) // on a test goroutine: no Fatal
		return
	}
	vals, vecs := make([]float64, k), make([]float64, k*d)
	a := slices.Clone(got) // overwritten
	if !kern.TopEigen(a, d, k, vals, vecs) {
		t.Errorf("n %d d %d k %d: TopEigen failed", n, d, k)
		return
	}
	scale := refVals[d-1]
	for i := 0; i < k; i++ {
		col := d - 1 - i
		if math.Abs(vals[i]-refVals[col]) > 1e-12*scale {
			t.Errorf("d %d: eigenvalue %d = %v, want %v", d, i, vals[i], refVals[col])
		}
		// Dsyev's eigenvectors are the columns of full (row-major).
		var dot, norm float64
		for j := 0; j < d; j++ {
			dot += vecs[i*d+j] * full[j*d+col]
			norm += vecs[i*d+j] * vecs[i*d+j]
		}
		gap := math.Inf(1)
		if col > 0 {
			gap = refVals[col] - refVals[col-1]
		}
		if col < d-1 {
			gap = min(gap, refVals[col+1]-refVals[col])
		}
		if math.Abs(norm-1) > 1e-12 || (gap > 1e-6*scale && 1-math.Abs(dot) > 1e-10) {
			t.Errorf("d %d: eigenvector %d: |v| %v, |cos| to gonum's %v (gap %.2g)", d, i, math.Sqrt(norm), math.Abs(dot), gap)
		}
	}
}
