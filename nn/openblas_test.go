//go:build (linux || darwin) && !noopenblas

package nn

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
)

// loadOpenBLASOrSkip loads the library, skipping the test only when it is truly
// absent (no name could be opened); a library that opens but is unusable fails.
func loadOpenBLASOrSkip(t testing.TB) *OpenBLASGemm {
	t.Helper()
	g, err := LoadOpenBLAS()
	if errors.Is(err, ErrOpenBLASNotFound) {
		t.Skipf("OpenBLAS is not installed, so only the gonum backend is tested (Debian: apt-get install libopenblas0): %v", err)
	}
	if err != nil {
		t.Fatalf("LoadOpenBLAS: %v", err)
	}
	return g
}

func TestOpenBLASGemm(t *testing.T) {
	g := loadOpenBLASOrSkip(t)
	t.Logf("loaded %s", g.Path())
	testSgemm(t, g) // every size through OpenBLAS, however small
	testSgemmPanics(t, g)
	if g.Name() != BLASOpenBLAS {
		t.Errorf("Name() = %q, want %q", g.Name(), BLASOpenBLAS)
	}
}

// TestSelectedOpenBLAS runs the suite on what SelectGemm("openblas") returns:
// OpenBLAS with small products dispatched to gonum.
func TestSelectedOpenBLAS(t *testing.T) {
	loadOpenBLASOrSkip(t)
	sel, err := SelectGemm(BLASOpenBLAS)
	if err != nil {
		t.Fatalf("SelectGemm(openblas) with the library installed: %v", err)
	}
	if sel.Library == "" || sel.Fallback != nil {
		t.Errorf("selection %+v: want a library and no fallback", sel)
	}
	testSgemm(t, sel.Gemm)
}

// TestLoadOpenBLASFailures checks the two ways loading fails: a name that does not
// open (ErrOpenBLASNotFound, the "skip" case) and a library that opens but has no
// sgemm_ (a real error, not reported as "not found").
func TestLoadOpenBLASFailures(t *testing.T) {
	_, err := LoadOpenBLAS("libevarl-no-such-library.so.0")
	if !errors.Is(err, ErrOpenBLASNotFound) || !strings.Contains(err.Error(), "libevarl-no-such-library.so.0") {
		t.Errorf("nonexistent library: err %v, want ErrOpenBLASNotFound naming the library", err)
	}
	libc := map[string]string{"linux": "libc.so.6", "darwin": "/usr/lib/libSystem.B.dylib"}[runtime.GOOS]
	_, err = LoadOpenBLAS("libevarl-no-such-library.so.0", libc)
	if err == nil || errors.Is(err, ErrOpenBLASNotFound) || !strings.Contains(err.Error(), "sgemm_") {
		t.Errorf("%s (no sgemm_): err %v, want an error about sgemm_ that is not ErrOpenBLASNotFound", libc, err)
	}
}

// TestOpenBLASNoAllocs checks the hot path allocates nothing: the scalar arguments
// come from a pool and SyscallN passes plain words.
func TestOpenBLASNoAllocs(t *testing.T) {
	g := loadOpenBLASOrSkip(t)
	const m, n, k = 32, 24, 16
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	allocs := testing.AllocsPerRun(100, func() {
		g.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
	})
	if allocs != 0 {
		t.Errorf("Sgemm allocates %v times per call, want 0", allocs)
	}
}

// TestOpenBLASConcurrent calls OpenBLAS from several goroutines at once, as
// evarl's trainers do, and compares each result with gonum's.
func TestOpenBLASConcurrent(t *testing.T) {
	g := loadOpenBLASOrSkip(t)
	const m, n, k, workers, reps = 70, 50, 40, 4, 20
	rng := rand.New(rand.NewPCG(3, 4))
	a, _ := gemmFillStrided(rng, m, k, 0, 0)
	b, _ := gemmFillStrided(rng, k, n, 0, 0)
	want := make([]float32, m*n)
	GonumGemm{}.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	var wg sync.WaitGroup
	errs := make([]float32, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, m*n)
			for range reps {
				g.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					errs[w] = max(errs[w], gemmAbs32(c[i]-want[i]))
				}
			}
		}()
	}
	wg.Wait()
	for w, e := range errs {
		if e > 1e-5 {
			t.Errorf("goroutine %d: max |openblas − gonum| = %g, want ≤ 1e-5", w, e)
		}
	}
}

func gemmAbs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// openBLASForBench returns the raw OpenBLAS backend, or nil when not installed.
func openBLASForBench(b *testing.B) Gemm {
	g, err := LoadOpenBLAS()
	if err != nil {
		b.Logf("OpenBLAS not benchmarked: %v", err)
		return nil
	}
	return g
}

// BenchmarkOpenBLASCallOverhead times the bare foreign call through purego (a
// function without arguments, openblas_get_num_threads), which is the floor under
// every OpenBLAS product; BenchmarkSgemmCrossover's 1³ case adds sgemm_'s own setup.
//
//	go test ./nn -run '^$' -bench OpenBLASCallOverhead
func BenchmarkOpenBLASCallOverhead(b *testing.B) {
	loadOpenBLASOrSkip(b)
	var fn uintptr
	for _, name := range openBLASNames {
		lib, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			continue
		}
		if fn, err = purego.Dlsym(lib, "openblas_get_num_threads"); err == nil {
			break
		}
	}
	if fn == 0 {
		b.Fatal("openblas_get_num_threads not found")
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _, _ := purego.SyscallN(fn); r != 1 {
			b.Fatalf("openblas_get_num_threads() = %d, want 1 (set at load)", r)
		}
	}
}
