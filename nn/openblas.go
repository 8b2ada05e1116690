//go:build (linux || darwin) && !noopenblas

package nn

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// openBLASNames are the shared-library names tried, in order, when no name is given.
// Debian and Ubuntu's libopenblas0 provides libopenblas.so.0 (32-bit integers; the
// 64-bit-integer build is a different library, libopenblas64_.so.0, with suffixed
// symbols, and is not used). The unversioned name exists where the -dev package is
// installed. On macOS, Homebrew installs a keg-only dylib outside the default search
// path, hence the absolute paths.
var openBLASNames = map[string][]string{
	"linux": {"libopenblas.so.0", "libopenblas.so"},
	"darwin": {
		"libopenblas.dylib",
		"/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
		"/usr/local/opt/openblas/lib/libopenblas.dylib",
	},
}[runtime.GOOS]

// OpenBLASGemm calls sgemm_ from an OpenBLAS shared library loaded at run time with
// purego, so the default build needs no cgo and no library at build time.
//
// The Fortran entry point is called rather than cblas_sgemm because every Fortran
// argument is a pointer: purego.SyscallN passes them as plain machine words, which
// costs ≈110–130 ns per call (BenchmarkOpenBLASCallOverhead) and allocates
// nothing, while a cblas call with float arguments needs purego.RegisterFunc
// (about 1 µs and an allocation per call).
// Row-major storage is handled by computing Cᵀ = op(B)ᵀ·op(A)ᵀ in column-major
// terms: swap A with B and m with n.
//
// Loading sets OpenBLAS to one thread: evarl runs independent work on goroutines,
// and OpenBLAS threads competing with busy goroutines were measured to fall to a
// third of their speed, while one OpenBLAS thread per goroutine scaled 1.7–1.85× on
// two goroutines. Safe for concurrent use.
//
// OpenBLASGemm computes every product in OpenBLAS, however small; DefaultGemm and
// SelectGemm wrap it so that tiny products go to gonum instead.
type OpenBLASGemm struct {
	path  string  // the library name that loaded
	sgemm uintptr // address of sgemm_
	// calls holds *sgemmCall: the scalar arguments must live in memory that is not
	// on a goroutine stack while the foreign code reads them, and a pool gives each
	// concurrent call its own block without allocating per call.
	calls sync.Pool
	// f64 are the float64 routines of Float64Kernels, when the library has them.
	f64 float64Symbols
}

var _ Gemm = (*OpenBLASGemm)(nil)

// sgemmCall is the per-call block: the arguments of Fortran sgemm_ and the
// matrices they point to.
type sgemmCall struct {
	args sgemmArgs
	// a, b and c hold the matrices for the duration of the call. Storing them in
	// this heap block makes the compiler treat Sgemm's slices as escaping, so no
	// caller can hand over a stack array, which could move (stack growth) between
	// taking its address and the foreign call.
	a, b, c []float32
}

// sgemmArgs are the arguments of Fortran sgemm_: the scalars, each passed by
// address, and the machine words handed to SyscallN. It holds no Go pointers, as
// memory read by foreign code must not.
type sgemmArgs struct {
	transA, transB byte // 'N' or 'T' (CHARACTER*1)
	m, n, k        int32
	lda, ldb, ldc  int32
	alpha, beta    float32
	words          [15]uintptr
}

// LoadOpenBLAS opens the first of names that loads (the platform's usual names
// when none are given), resolves sgemm_ and sets OpenBLAS to one thread. The error
// lists every name tried and why it failed, so a log line explains a fallback.
func LoadOpenBLAS(names ...string) (*OpenBLASGemm, error) {
	if len(names) == 0 {
		names = openBLASNames
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("nn: no OpenBLAS library names known for %s", runtime.GOOS)
	}
	var errs []error
	opened := false // some name opened but was unusable
	for _, name := range names {
		g, err := loadOpenBLAS(name)
		if err == nil {
			return g, nil
		}
		opened = opened || !errors.Is(err, errNotOpened)
		errs = append(errs, err)
	}
	if !opened {
		return nil, fmt.Errorf("nn: %w: %w", ErrOpenBLASNotFound, errors.Join(errs...))
	}
	return nil, fmt.Errorf("nn: load OpenBLAS: %w", errors.Join(errs...))
}

// errNotOpened marks a dlopen failure, as opposed to a library missing a symbol.
var errNotOpened = errors.New("cannot open")

func loadOpenBLAS(name string) (*OpenBLASGemm, error) {
	lib, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errNotOpened, name, err)
	}
	sgemm, err := purego.Dlsym(lib, "sgemm_")
	if err != nil {
		purego.Dlclose(lib)
		return nil, fmt.Errorf("%s has no sgemm_: %w", name, err)
	}
	// openblas_set_num_threads(int) takes its argument by value; it is called once,
	// off the hot path. A library without it is a BLAS but not OpenBLAS: refuse it,
	// since its threading cannot be controlled and the name promised OpenBLAS.
	setThreads, err := purego.Dlsym(lib, "openblas_set_num_threads")
	if err != nil {
		purego.Dlclose(lib)
		return nil, fmt.Errorf("%s has no openblas_set_num_threads (not OpenBLAS?): %w", name, err)
	}
	purego.SyscallN(setThreads, 1)
	// The handle stays open for the life of the process: the function pointers
	// must stay valid and every Gemm value may be used at any time.
	g := &OpenBLASGemm{path: name, sgemm: sgemm}
	g.calls.New = func() any { return new(sgemmCall) }
	g.loadFloat64(lib)
	return g, nil
}

// Path returns the library name that was loaded, e.g. "libopenblas.so.0".
func (g *OpenBLASGemm) Path() string { return g.path }

// Name implements Gemm.
func (g *OpenBLASGemm) Name() string { return BLASOpenBLAS }

// Sgemm implements Gemm. Dimensions must fit the library's 32-bit integers.
func (g *OpenBLASGemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc) {
		return
	}
	if k == 0 {
		// Nothing to read from A or B (they may be empty slices): C = beta·C.
		GonumGemm{}.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	for _, d := range [...]int{m, n, k, lda, ldb, ldc} {
		if d > math.MaxInt32 {
			panic(fmt.Sprintf("nn: sgemm: dimension %d exceeds OpenBLAS's 32-bit integers", d))
		}
	}
	call := g.calls.Get().(*sgemmCall)
	call.a, call.b, call.c = a, b, c
	p := &call.args
	// Column-major view: C (m×n, row-major) is Cᵀ (n×m) with leading dimension ldc,
	// and Cᵀ = op(B)ᵀ·op(A)ᵀ, where op(B)ᵀ is B as stored read column-major
	// (so transB maps to Fortran's TRANSA unchanged), and likewise for A.
	p.transA, p.transB = fortranTrans(transB), fortranTrans(transA)
	p.m, p.n, p.k = int32(n), int32(m), int32(k)
	p.lda, p.ldb, p.ldc = int32(ldb), int32(lda), int32(ldc)
	p.alpha, p.beta = alpha, beta
	// sgemm_(TRANSA, TRANSB, M, N, K, ALPHA, A, LDA, B, LDB, BETA, C, LDC, len(TRANSA),
	// len(TRANSB)); the trailing hidden string lengths are what gfortran-compiled
	// BLAS expects and are ignored by OpenBLAS's C interface. The words are stored in
	// the pooled block because a variadic list built here would escape to the heap on
	// every call. The addresses stay valid during the call: everything they point to
	// is on the heap (see sgemmCall), which does not move, and is referenced by call.
	p.words = [len(p.words)]uintptr{
		uintptr(unsafe.Pointer(&p.transA)), uintptr(unsafe.Pointer(&p.transB)),
		uintptr(unsafe.Pointer(&p.m)), uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&p.k)),
		uintptr(unsafe.Pointer(&p.alpha)),
		uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&p.lda)),
		uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&p.ldb)),
		uintptr(unsafe.Pointer(&p.beta)),
		uintptr(unsafe.Pointer(&c[0])), uintptr(unsafe.Pointer(&p.ldc)),
		1, 1,
	}
	purego.SyscallN(g.sgemm, p.words[:]...)
	call.a, call.b, call.c = nil, nil, nil // the pool must not keep the caller's buffers alive
	g.calls.Put(call)
}

func fortranTrans(t bool) byte {
	if t {
		return 'T'
	}
	return 'N'
}

// loadDefaultOpenBLAS is what SelectGemm uses: the usual names for this platform.
func loadDefaultOpenBLAS() (Gemm, string, error) {
	g, err := LoadOpenBLAS()
	if err != nil {
		return nil, "", err
	}
	return g, g.Path(), nil
}
