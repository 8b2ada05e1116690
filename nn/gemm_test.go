package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// naiveSgemm64 is the test oracle: the definition of row-major sgemm as a float64
// triple loop over the float32 inputs. With beta = 0 it never reads C, as BLAS
// specifies, so NaN garbage there must not leak into the result.
func naiveSgemm64(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	at := func(i, p int) float64 { // op(A)[i][p]
		if transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 { // op(B)[p][j]
		if transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += at(i, p) * bt(p, j)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = v
		}
	}
	return out
}

// gemmCase is one call of the shared suite.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra columns in every leading dimension (strided submatrices)
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// gemmSuite lists the cases every backend must pass: 1×1 and vectors, odd sizes,
// sizes on both sides of SmallGemmMACs, all four transpose combinations, alpha in
// {1, -0.5, 0}, beta in {0, 1, 0.75}, tight and padded leading dimensions.
func gemmSuite() []gemmCase {
	shapes := [][3]int{
		{1, 1, 1}, {1, 7, 1}, {5, 1, 3}, {1, 1, 9}, {3, 5, 7}, {7, 3, 5},
		{16, 16, 16}, {17, 13, 19}, {33, 65, 31}, {64, 60, 32}, {96, 128, 70},
		{4, 3, 0}, // k = 0: C = beta·C
	}
	var out []gemmCase
	for _, s := range shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.75}, {0, 0.75}, {0.5, 0}} {
				for _, pad := range []int{0, 3} {
					out = append(out, gemmCase{tr[0], tr[1], s[0], s[1], s[2], ab[0], ab[1], pad})
				}
			}
		}
	}
	return out
}

// gemmFillStrided returns a rows×cols matrix with leading dimension cols+pad: the
// matrix entries drawn from U(-1, 1), the padding set to pad value.
func gemmFillStrided(rng *rand.Rand, rows, cols, pad int, padValue float32) ([]float32, int) {
	ld := max(1, cols+pad)
	x := make([]float32, max(0, rows*ld))
	for i := range x {
		if i%ld < cols {
			x[i] = float32(2*rng.Float64() - 1)
		} else {
			x[i] = padValue
		}
	}
	return x, ld
}

// testSgemm runs the shared suite on g. A backend that reads the padding of A or
// B (NaN there), reads C when beta = 0 (NaN there) or writes outside C's m×n
// window (a sentinel there) fails, as does one off by more than float32 rounding
// can explain: |got − want| ≤ 2·(k+2)·ε₃₂·(|alpha|·Σ|a||b| + |beta|·|c|).
func testSgemm(t *testing.T, g Gemm) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	nan := float32(math.NaN())
	const sentinel = float32(12345)
	const eps32 = 0x1p-23
	for _, tc := range gemmSuite() {
		aRows, aCols := tc.m, tc.k
		if tc.transA {
			aRows, aCols = tc.k, tc.m
		}
		bRows, bCols := tc.k, tc.n
		if tc.transB {
			bRows, bCols = tc.n, tc.k
		}
		a, lda := gemmFillStrided(rng, aRows, aCols, tc.pad, nan)
		b, ldb := gemmFillStrided(rng, bRows, bCols, tc.pad, nan)
		c, ldc := gemmFillStrided(rng, tc.m, tc.n, tc.pad, sentinel)
		if tc.beta == 0 {
			for i := range c {
				if i%ldc < tc.n {
					c[i] = nan
				}
			}
		}
		c0 := append([]float32(nil), c...)
		want := naiveSgemm64(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c0, ldc)

		g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)

		// The bound needs |op(A)|·|op(B)|: reuse the oracle on absolute values.
		abs := func(x []float32) []float32 {
			y := make([]float32, len(x))
			for i, v := range x {
				y[i] = float32(math.Abs(float64(v)))
			}
			return y
		}
		bound := naiveSgemm64(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(math.Abs(float64(tc.alpha))),
			abs(a), lda, abs(b), ldb, float32(math.Abs(float64(tc.beta))), abs(c0), ldc)
		bad := 0
		for i := range c {
			r, col := i/ldc, i%ldc
			if col >= tc.n {
				if c[i] != sentinel {
					t.Errorf("%s %v: wrote C[%d][%d] outside the %d×%d window: %g", g.Name(), tc, r, col, tc.m, tc.n, c[i])
					bad++
				}
				continue
			}
			w := want[r*tc.n+col]
			tol := 2*float64(tc.k+2)*eps32*bound[r*tc.n+col] + 1e-30
			if got := float64(c[i]); !(math.Abs(got-w) <= tol) {
				t.Errorf("%s %v: C[%d][%d] = %g, want %g (tol %.3g)", g.Name(), tc, r, col, got, w, tol)
				bad++
			}
			if bad > 5 {
				t.Fatalf("%s %v: too many errors", g.Name(), tc)
			}
		}
	}
}

// testSgemmPanics checks that a backend refuses arguments that break the contract
// with an "nn: sgemm" panic instead of reading out of bounds.
func testSgemmPanics(t *testing.T, g Gemm) {
	t.Helper()
	buf := make([]float32, 12)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short A", func() { g.Sgemm(false, false, 3, 2, 4, 1, buf[:11], 4, buf, 2, 0, buf, 2) }},
		{"short B", func() { g.Sgemm(false, true, 2, 3, 4, 1, buf, 4, buf[:11], 4, 0, buf, 3) }},
		{"short C", func() { g.Sgemm(false, false, 3, 4, 1, 1, buf, 1, buf, 4, 0, buf[:11], 4) }},
		{"lda too small", func() { g.Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"lda too small transA", func() { g.Sgemm(true, false, 3, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"ldb too small", func() { g.Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 2, 0, buf, 3) }},
		{"ldc too small", func() { g.Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 3, 0, buf, 2) }},
		{"negative m", func() { g.Sgemm(false, false, -1, 3, 2, 1, buf, 2, buf, 3, 0, buf, 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "nn: sgemm") {
					t.Errorf("%s: panic %v, want an \"nn: sgemm\" message", g.Name(), r)
				}
			}()
			tc.call()
		})
	}
}

func TestGonumGemm(t *testing.T) {
	testSgemm(t, GonumGemm{})
	testSgemmPanics(t, GonumGemm{})
	if got := (GonumGemm{}).Name(); got != BLASGonum {
		t.Errorf("Name() = %q, want %q", got, BLASGonum)
	}
}

// recordingGemm counts the calls it receives and forwards them to gonum.
type recordingGemm struct {
	name  string
	calls int
}

func (r *recordingGemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	r.calls++
	GonumGemm{}.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (r *recordingGemm) Name() string { return r.name }

func TestDispatchGemm(t *testing.T) {
	for _, tc := range []struct {
		m, n, k   int
		wantLarge bool
	}{
		{1, 1, 1, false},
		{6, 6, 5, false},
		{6, 6, 6, true}, // exactly SmallGemmMACs goes to the large backend
		{216, 1, 1, true},
		{3840, 128, 512, true},
	} {
		large, small := &recordingGemm{name: "large"}, &recordingGemm{name: "small"}
		d := &dispatchGemm{large: large, small: small, minMACs: SmallGemmMACs}
		a := make([]float32, tc.m*tc.k)
		b := make([]float32, tc.k*tc.n)
		c := make([]float32, tc.m*tc.n)
		d.Sgemm(false, false, tc.m, tc.n, tc.k, 1, a, tc.k, b, tc.n, 0, c, tc.n)
		if got := large.calls == 1 && small.calls == 0; got != tc.wantLarge {
			t.Errorf("%d×%d×%d: large calls %d, small calls %d; want large=%v", tc.m, tc.n, tc.k, large.calls, small.calls, tc.wantLarge)
		}
		if d.Name() != "large" {
			t.Errorf("Name() = %q, want the large backend's name", d.Name())
		}
	}
}

func TestSelectGemm(t *testing.T) {
	missing := errors.New("libopenblas.so.0: cannot open shared object file")
	fail := func() (Gemm, string, error) { return nil, "", missing }
	fake := &recordingGemm{name: BLASOpenBLAS}
	ok := func() (Gemm, string, error) { return fake, "libfake.so", nil }
	for _, tc := range []struct {
		choice       string
		load         func() (Gemm, string, error)
		wantName     string
		wantFallback bool
		wantErr      string
	}{
		{"gonum", ok, BLASGonum, false, ""},
		{"GONUM ", ok, BLASGonum, false, ""},
		{"", ok, BLASOpenBLAS, false, ""},
		{"auto", ok, BLASOpenBLAS, false, ""},
		{"openblas", ok, BLASOpenBLAS, false, ""},
		{"auto", fail, BLASGonum, true, ""},
		{"", fail, BLASGonum, true, ""},
		{"openblas", fail, "", false, "cannot open shared object"},
		{"mkl", ok, "", false, `unknown BLAS backend "mkl"`},
	} {
		sel, err := selectGemm(tc.choice, tc.load)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("selectGemm(%q): err %v, want one containing %q", tc.choice, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("selectGemm(%q): %v", tc.choice, err)
			continue
		}
		if got := sel.Gemm.Name(); got != tc.wantName {
			t.Errorf("selectGemm(%q): backend %q, want %q", tc.choice, got, tc.wantName)
		}
		if got := sel.Fallback != nil; got != tc.wantFallback {
			t.Errorf("selectGemm(%q): fallback %v, want %v", tc.choice, sel.Fallback, tc.wantFallback)
		}
		if tc.wantFallback && !errors.Is(sel.Fallback, missing) {
			t.Errorf("selectGemm(%q): fallback reason %v, want the loader's error", tc.choice, sel.Fallback)
		}
		if tc.wantName == BLASOpenBLAS {
			if _, isDispatch := sel.Gemm.(*dispatchGemm); !isDispatch || sel.Library != "libfake.so" {
				t.Errorf("selectGemm(%q): %T library %q, want a size dispatcher over libfake.so", tc.choice, sel.Gemm, sel.Library)
			}
		}
	}
}

// TestGemmFromEnvLogs checks the start-up log line: one entry, at warning level for
// a fallback with the reason as a field, at info level otherwise.
func TestGemmFromEnvLogs(t *testing.T) {
	fail := func() (Gemm, string, error) { return nil, "", errors.New("no such library") }
	ok := func() (Gemm, string, error) { return &recordingGemm{name: BLASOpenBLAS}, "libfake.so", nil }
	for _, tc := range []struct {
		choice    string
		load      func() (Gemm, string, error)
		wantLevel logrus.Level
		wantField map[string]any
	}{
		{"", fail, logrus.WarnLevel, map[string]any{"blas": "gonum", "blas_fallback_reason": "no such library"}},
		{"auto", ok, logrus.InfoLevel, map[string]any{"blas": "openblas", "blas_library": "libfake.so"}},
		{"gonum", ok, logrus.InfoLevel, map[string]any{"blas": "gonum", "blas_requested": "gonum"}},
	} {
		log, hook := logtest.NewNullLogger()
		if _, err := gemmFromEnv(tc.choice, tc.load, log); err != nil {
			t.Fatalf("gemmFromEnv(%q): %v", tc.choice, err)
		}
		if len(hook.Entries) != 1 {
			t.Fatalf("gemmFromEnv(%q): %d log entries, want 1", tc.choice, len(hook.Entries))
		}
		e := hook.LastEntry()
		if e.Level != tc.wantLevel {
			t.Errorf("gemmFromEnv(%q): level %v, want %v", tc.choice, e.Level, tc.wantLevel)
		}
		for k, v := range tc.wantField {
			if e.Data[k] != v {
				t.Errorf("gemmFromEnv(%q): field %s = %v, want %v", tc.choice, k, e.Data[k], v)
			}
		}
	}
	log, hook := logtest.NewNullLogger()
	_, err := gemmFromEnv("openblas", fail, log)
	if err == nil || !strings.Contains(err.Error(), BLASEnv) || len(hook.Entries) != 0 {
		t.Errorf("forced openblas without the library: err %v, %d log entries; want an error naming %s and no log", err, len(hook.Entries), BLASEnv)
	}
}
