package nn

import "fmt"

// checkSgemm validates the arguments of Gemm.Sgemm against its contract and panics
// with an "nn: sgemm: …" message when they break it. Every backend calls it before
// computing: gonum would panic anyway (with its own message), but a foreign library
// reading a slice that is too short would corrupt memory instead, so the check is the
// only thing standing between a shape bug and a segmentation fault.
//
// It returns false when there is nothing to compute (m or n is zero).
func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("nn: sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	// Stored shapes (rows × cols) of A and B as they sit in memory.
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	if lda < max(1, aCols) {
		panic(fmt.Sprintf("nn: sgemm: lda %d < max(1, %d) (A stored %d×%d, transA=%v)", lda, aCols, aRows, aCols, transA))
	}
	if ldb < max(1, bCols) {
		panic(fmt.Sprintf("nn: sgemm: ldb %d < max(1, %d) (B stored %d×%d, transB=%v)", ldb, bCols, bRows, bCols, transB))
	}
	if ldc < max(1, n) {
		panic(fmt.Sprintf("nn: sgemm: ldc %d < max(1, %d)", ldc, n))
	}
	if m == 0 || n == 0 {
		return false
	}
	if k > 0 {
		if need := (aRows-1)*lda + aCols; len(a) < need {
			panic(fmt.Sprintf("nn: sgemm: len(a) %d < %d for A stored %d×%d with lda %d", len(a), need, aRows, aCols, lda))
		}
		if need := (bRows-1)*ldb + bCols; len(b) < need {
			panic(fmt.Sprintf("nn: sgemm: len(b) %d < %d for B stored %d×%d with ldb %d", len(b), need, bRows, bCols, ldb))
		}
	}
	if need := (m-1)*ldc + n; len(c) < need {
		panic(fmt.Sprintf("nn: sgemm: len(c) %d < %d for C %d×%d with ldc %d", len(c), need, m, n, ldc))
	}
	return true
}
