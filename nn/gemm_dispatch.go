package nn

// SmallGemmMACs is the size, in multiply-adds m·n·k, below which the OpenBLAS
// selection sends a product to gonum: under it the foreign call (≈170 ns through
// purego and OpenBLAS's own setup, against ≈30–50 ns for gonum on 1×1×1) costs more
// than gonum's whole product.
//
// Measured with BenchmarkSgemmCrossover on the 2-core x86-64 development machine
// (Debian OpenBLAS 0.3.21, one thread): cubes cross between 6³ and 8³ (6³: gonum
// 210 ns, OpenBLAS 220–880 ns; 8³: 300–390 against 250–450 ns; 12³: 820–970 against
// 440–610 ns; 16³: 2.2–2.9 µs against 0.53–0.60 µs), and skinny shapes of a few
// hundred multiply-adds (16×16×1, 32×8×1) favour gonum by 2×. An earlier estimate
// of 16³ was too high for this call path: products from 8³ up run faster in OpenBLAS.
const SmallGemmMACs = 8 * 8 * 8

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
