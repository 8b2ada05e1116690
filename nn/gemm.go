package nn

// Gemm is the single matrix-multiply entry point every kernel uses:
//
//	C = alpha · op(A) · op(B) + beta · C
//
// with row-major storage, op(X) = X or Xᵀ, op(A) of shape (m, k), op(B) of shape
// (k, n), C of shape (m, n), and leading dimensions lda, ldb, ldc in elements (the
// row stride of each matrix as stored). It has the contract of BLAS sgemm in
// row-major (CBLAS) form.
type Gemm interface {
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		b []float32, ldb int, beta float32, c []float32, ldc int)
	// Name identifies the backend in logs, e.g. "openblas" or "gonum".
	Name() string
}
