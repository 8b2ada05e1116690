package nn

// SmallGemmMACs is the size, in multiply-adds m·n·k, below which the OpenBLAS
// selection sends a product to gonum: under it the foreign call (≈110–130 ns for a
// bare purego call, ≈250–400 ns for sgemm_ on 1×1×1, against ≈55 ns for gonum)
// costs more than gonum's whole product.
//
// Measured with BenchmarkSgemmCrossover (-count 5, medians) on the shared 2-core
// x86-64 development machine under load, Debian OpenBLAS 0.3.21 with one thread:
// gonum vs OpenBLAS 4³ 184 vs 287 ns, 5³ 284 vs 396, 6³ 397 vs 329, 7³ 556 vs 384,
// 8³ 684 vs 324, 16³ 3485 vs 539; skinny shapes near the line go either way (16×16×1
// 328 vs 399, 32×8×1 1192 vs 428 ns). So cubes cross at about 6³, far below the
// 16³ once estimated for this call path.
const SmallGemmMACs = 6 * 6 * 6

// dispatchGemm sends products smaller than minMACs multiply-adds to small and the
// rest to large. It reports large's name: that is the backend doing the real work.
type dispatchGemm struct {
	large, small Gemm
	minMACs      int
}

var _ Gemm = (*dispatchGemm)(nil)

// Sgemm implements Gemm.
func (d *dispatchGemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m*n*k < d.minMACs {
		d.small.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	d.large.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Name implements Gemm.
func (d *dispatchGemm) Name() string { return d.large.Name() }
