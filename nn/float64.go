package nn

// Float64Kernels are double-precision routines that a backend may offer besides
// Sgemm. Package eva's exact PCA accumulates a scatter matrix and takes its leading
// eigenvectors after every minibatch; in float64 those are the whole cost of its
// pass, and OpenBLAS does them faster than the pure-Go routines eva falls back to:
// dsyrk_ 4.4–4.8× gonum's Dsyrk at widths 64–256, LAPACK's dsyevr_ 1.5–2.3× eva's
// own eigensolver from width 128 on (go test ./eva -run '^$' -bench ExactPCAKernels).
// Both compute the same quantities to rounding.
type Float64Kernels interface {
	// AddScatter adds xᵀ·x to the lower triangle of c (d×d, row-major) for the n
	// rows of x (n×d, row-major); the strict upper triangle of c is left alone.
	AddScatter(x []float64, n, d int, c []float64)
	// TopEigen writes the k largest eigenvalues of the symmetric d×d matrix a (its
	// lower triangle is read; a is overwritten) into vals, in decreasing order, and
	// their unit eigenvectors into the rows of vecs (k×d). It reports false when
	// the eigensolver fails.
	TopEigen(a []float64, d, k int, vals, vecs []float64) bool
}

// Float64KernelsOf returns the Float64Kernels of backend g, or nil when it offers
// none (gonum, or an OpenBLAS without the LAPACK routines).
func Float64KernelsOf(g Gemm) Float64Kernels {
	if d, ok := g.(*dispatchGemm); ok {
		g = d.large
	}
	k, ok := g.(Float64Kernels)
	if !ok {
		return nil
	}
	if o, ok := k.(interface{ hasFloat64() bool }); ok && !o.hasFloat64() {
		return nil
	}
	return k
}
