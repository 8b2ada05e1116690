package nn

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// GonumGemm is the pure-Go backend: gonum's blas/gonum implementation, which is what
// blas32 uses unless another implementation is installed with blas32.Use. It is
// always available (no cgo, no shared library), so it is the fallback, and it is the
// faster choice for tiny products where a foreign call costs more than the work
// (see dispatchGemm). The zero value is ready to use and safe for concurrent use.
//
// It calls the implementation directly rather than through blas32.Implementation()
// so that a process-wide blas32.Use elsewhere cannot silently change what "gonum"
// means in evarl's logs.
type GonumGemm struct{}

var _ Gemm = GonumGemm{}

// Sgemm implements Gemm.
func (GonumGemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc) {
		return
	}
	gonum.Implementation{}.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Name implements Gemm.
func (GonumGemm) Name() string { return BLASGonum }

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
