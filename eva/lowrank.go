package eva

import (
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// LowRankIters is the number of subspace iterations of the randomized SVD, torch's
// svd_lowrank default that PEFT's EVA uses.
const LowRankIters = 4

// svdLowRank computes the q leading singular values s and right-singular vectors vt
// (q×n, rows) of the m×n row-major matrix a with the randomized range finder and
// subspace iteration of Halko, Martinsson and Tropp (2011, Alg. 4.4), which is what
// torch.svd_lowrank does and PEFT's EVA uses (q = 2·n_components, 4 iterations):
//
//	Q = orth(A·Ω);  repeat iters: Q = orth(A·orth(Aᵀ·Q));  svd(Qᵀ·A) = U·S·Vᵀ
//
// Ω (n×q) is standard normal from rng. a is not modified. It needs q ≤ min(m, n).
func svdLowRank(m, n, q, iters int, a []float64, rng *rand.Rand, s, vt []float64) bool {
	A := blas64.General{Rows: m, Cols: n, Stride: n, Data: a}
	omega := blas64.General{Rows: n, Cols: q, Stride: q, Data: make([]float64, n*q)}
	for i := range omega.Data {
		omega.Data[i] = rng.NormFloat64()
	}
	y := blas64.General{Rows: m, Cols: q, Stride: q, Data: make([]float64, m*q)}
	z := blas64.General{Rows: n, Cols: q, Stride: q, Data: make([]float64, n*q)}
	tau := make([]float64, q)
	var work []float64
	// y (m, q) = A (m, n) · Ω (n, q)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, A, omega, 0, y)
	orth(y, tau, &work)
	for it := 0; it < iters; it++ {
		// z (n, q) = Aᵀ · y
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, A, y, 0, z)
		orth(z, tau, &work)
		// y (m, q) = A · z
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, A, z, 0, y)
		orth(y, tau, &work)
	}
	// b (q, n) = yᵀ (q, m) · A (m, n); its right-singular vectors are A's.
	b := blas64.General{Rows: q, Cols: n, Stride: n, Data: make([]float64, q*n)}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, y, A, 0, b)
	return svdVt(q, n, b.Data, s, vt, &work)
}

// orth replaces the columns of the tall matrix x by an orthonormal basis of their
// span (the Q of its Householder QR, LAPACK dgeqrf + dorgqr).
func orth(x blas64.General, tau []float64, work *[]float64) {
	query := []float64{0}
	lapack64.Geqrf(x, tau, query, -1)
	n := int(query[0])
	lapack64.Orgqr(x, tau, query, -1)
	n = max(n, int(query[0]), x.Cols)
	if cap(*work) < n {
		*work = make([]float64, n)
	}
	lapack64.Geqrf(x, tau, (*work)[:n], n)
	lapack64.Orgqr(x, tau, (*work)[:n], n)
}
