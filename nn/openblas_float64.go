//go:build (linux || darwin) && !noopenblas

package nn

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// float64Symbols are the OpenBLAS entry points behind Float64Kernels. Debian's
// OpenBLAS carries LAPACK; a build without it leaves them zero and
// Float64KernelsOf reports none.
type float64Symbols struct {
	dsyrk, dsyevr uintptr
	// calls holds *float64Call blocks, so concurrent calls (one per layer in an EVA
	// pass) each have their own arguments and workspace without allocating.
	calls sync.Pool
}

func (g *OpenBLASGemm) loadFloat64(lib uintptr) {
	syrk, err1 := purego.Dlsym(lib, "dsyrk_")
	syevr, err2 := purego.Dlsym(lib, "dsyevr_")
	if err1 != nil || err2 != nil {
		return
	}
	g.f64.dsyrk, g.f64.dsyevr = syrk, syevr
	g.f64.calls.New = func() any { return new(float64Call) }
}

func (g *OpenBLASGemm) hasFloat64() bool { return g.f64.dsyrk != 0 && g.f64.dsyevr != 0 }

var _ Float64Kernels = (*OpenBLASGemm)(nil)

// float64Call is the heap block of one call of dsyrk_ or dsyevr_: every Fortran
// argument is passed by address and must not live on a goroutine stack (see
// sgemmCall), and LAPACK's workspace is kept between calls.
type float64Call struct {
	jobz, rng, uplo, trans byte
	n, k, lda, il, iu, m   int32
	ldz, lwork, liwork     int32
	info                   int32
	alpha, beta            float64
	vl, vu, abstol         float64
	w, z, work             []float64
	iwork, isuppz          []int32
	words                  [24]uintptr
	keep                   [][]float64 // the caller's matrices, held for the call
}

// AddScatter implements Float64Kernels with dsyrk_. Row-major x (n×d) read
// column-major is Xᵀ (d×n), so C ← C + Xᵀ·X is dsyrk with TRANS = 'N'; the
// row-major lower triangle is the column-major upper one.
func (g *OpenBLASGemm) AddScatter(x []float64, n, d int, c []float64) {
	if n == 0 || d == 0 {
		return
	}
	if len(x) < n*d || len(c) < d*d {
		panic(fmt.Sprintf("nn: AddScatter: len(x) %d, len(c) %d for %d rows of %d", len(x), len(c), n, d))
	}
	p := g.f64.calls.Get().(*float64Call)
	p.keep = append(p.keep[:0], x, c)
	p.uplo, p.trans = 'U', 'N'
	p.n, p.k, p.lda = int32(d), int32(n), int32(d)
	p.alpha, p.beta = 1, 1
	// dsyrk_(UPLO, TRANS, N, K, ALPHA, A, LDA, BETA, C, LDC, len(UPLO), len(TRANS))
	w := p.words[:12]
	w[0], w[1] = uintptr(unsafe.Pointer(&p.uplo)), uintptr(unsafe.Pointer(&p.trans))
	w[2], w[3] = uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&p.k))
	w[4], w[5], w[6] = uintptr(unsafe.Pointer(&p.alpha)), uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&p.lda))
	w[7], w[8], w[9] = uintptr(unsafe.Pointer(&p.beta)), uintptr(unsafe.Pointer(&c[0])), uintptr(unsafe.Pointer(&p.n))
	w[10], w[11] = 1, 1
	purego.SyscallN(g.f64.dsyrk, w...)
	p.keep = p.keep[:0]
	g.f64.calls.Put(p)
}

// TopEigen implements Float64Kernels with dsyevr_, asking for the eigenvalues
// d−k+1 … d: Householder tridiagonalisation (dsytrd_), then, for a subset of the
// spectrum, bisection and inverse iteration on the tridiagonal matrix (dstebz_,
// dstein_; dsyevr_ takes its MRRR path only for the whole spectrum), and the
// back-transformation (dormtr_).
func (g *OpenBLASGemm) TopEigen(a []float64, d, k int, vals, vecs []float64) bool {
	if k < 1 || k > d || len(a) < d*d || len(vals) < k || len(vecs) < k*d {
		panic(fmt.Sprintf("nn: TopEigen: %d of %d eigenpairs with len(a) %d, len(vals) %d, len(vecs) %d", k, d, len(a), len(vals), len(vecs)))
	}
	p := g.f64.calls.Get().(*float64Call)
	defer g.f64.calls.Put(p)
	p.keep = append(p.keep[:0], a)
	defer func() { p.keep = p.keep[:0] }()
	// Workspace sizes from LAPACK's documentation: LWORK ≥ 26·N, LIWORK ≥ 10·N.
	p.w = growFloat64(p.w, d)
	p.z = growFloat64(p.z, d*k)
	p.work = growFloat64(p.work, 26*d)
	if cap(p.iwork) < 10*d {
		p.iwork = make([]int32, 10*d)
	}
	p.iwork = p.iwork[:10*d]
	if cap(p.isuppz) < 2*k {
		p.isuppz = make([]int32, 2*k)
	}
	p.isuppz = p.isuppz[:2*k]
	p.jobz, p.rng, p.uplo = 'V', 'I', 'U'
	p.n, p.lda, p.ldz = int32(d), int32(d), int32(d)
	p.il, p.iu = int32(d-k+1), int32(d)
	p.vl, p.vu, p.abstol = 0, 0, 0
	p.lwork, p.liwork = int32(26*d), int32(10*d)
	// dsyevr_(JOBZ, RANGE, UPLO, N, A, LDA, VL, VU, IL, IU, ABSTOL, M, W, Z, LDZ,
	// ISUPPZ, WORK, LWORK, IWORK, LIWORK, INFO, and the three hidden lengths)
	p.words = [24]uintptr{
		uintptr(unsafe.Pointer(&p.jobz)), uintptr(unsafe.Pointer(&p.rng)), uintptr(unsafe.Pointer(&p.uplo)),
		uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&p.lda)),
		uintptr(unsafe.Pointer(&p.vl)), uintptr(unsafe.Pointer(&p.vu)),
		uintptr(unsafe.Pointer(&p.il)), uintptr(unsafe.Pointer(&p.iu)), uintptr(unsafe.Pointer(&p.abstol)),
		uintptr(unsafe.Pointer(&p.m)), uintptr(unsafe.Pointer(&p.w[0])), uintptr(unsafe.Pointer(&p.z[0])),
		uintptr(unsafe.Pointer(&p.ldz)), uintptr(unsafe.Pointer(&p.isuppz[0])),
		uintptr(unsafe.Pointer(&p.work[0])), uintptr(unsafe.Pointer(&p.lwork)),
		uintptr(unsafe.Pointer(&p.iwork[0])), uintptr(unsafe.Pointer(&p.liwork)), uintptr(unsafe.Pointer(&p.info)),
		1, 1, 1,
	}
	purego.SyscallN(g.f64.dsyevr, p.words[:]...)
	if p.info != 0 || int(p.m) != k {
		return false
	}
	// W and the columns of Z are in increasing order: reverse them. A column of Z
	// (column-major, LDZ = d) is d contiguous values, i.e. one row of vecs.
	for i := 0; i < k; i++ {
		src := k - 1 - i
		vals[i] = p.w[src]
		copy(vecs[i*d:(i+1)*d], p.z[src*d:(src+1)*d])
	}
	return true
}

func growFloat64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}
