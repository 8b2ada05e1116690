package nn

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// Backend names, as accepted by SelectGemm and the EVARL_BLAS environment variable
// and as returned by Gemm.Name.
const (
	BLASAuto     = "auto"     // OpenBLAS when it loads, else gonum
	BLASOpenBLAS = "openblas" // OpenBLAS, loaded at run time; an error if it cannot be
	BLASGonum    = "gonum"    // gonum's pure-Go blas32
)

// BLASEnv is the environment variable that forces a backend for DefaultGemm:
// "openblas", "gonum" or "auto" (the same as unset).
const BLASEnv = "EVARL_BLAS"

// ErrOpenBLASNotFound is wrapped by the error of LoadOpenBLAS when none of the
// library names could be opened at all (as opposed to a library that opened but
// lacks a symbol): it means "not installed", the one case where tests skip.
var ErrOpenBLASNotFound = errors.New("OpenBLAS shared library not found")

// BLASSelection is the outcome of SelectGemm: the backend and why it was chosen, so
// the caller can log it.
type BLASSelection struct {
	// Gemm is the backend to use.
	Gemm Gemm
	// Requested is the choice asked for ("auto", "openblas" or "gonum").
	Requested string
	// Library is the shared library in use ("" for gonum).
	Library string
	// Fallback is why "auto" ended on gonum (OpenBLAS missing or not built in);
	// nil otherwise.
	Fallback error
}

// Fields returns the selection as logrus fields, for one start-up log line.
func (s BLASSelection) Fields() logrus.Fields {
	f := logrus.Fields{"blas": s.Gemm.Name(), "blas_requested": s.Requested}
	if s.Library != "" {
		f["blas_library"] = s.Library
		f["blas_small_to_gonum_below_macs"] = SmallGemmMACs
	}
	if s.Fallback != nil {
		f["blas_fallback_reason"] = s.Fallback.Error()
	}
	return f
}

// SelectGemm returns the backend for choice: "openblas" loads OpenBLAS or fails,
// "gonum" is always available, and "auto" (or "") tries OpenBLAS and falls back to
// gonum, recording why in Fallback. The OpenBLAS backend sends products below
// SmallGemmMACs to gonum, where they are faster. An unknown choice is an error that
// names it.
func SelectGemm(choice string) (BLASSelection, error) {
	return selectGemm(choice, loadDefaultOpenBLAS)
}

// selectGemm is SelectGemm with the loader injected, so tests can exercise the
// fallback on a machine that has OpenBLAS.
func selectGemm(choice string, load func() (Gemm, string, error)) (BLASSelection, error) {
	req := strings.ToLower(strings.TrimSpace(choice))
	if req == "" {
		req = BLASAuto
	}
	sel := BLASSelection{Requested: req}
	switch req {
	case BLASGonum:
		sel.Gemm = GonumGemm{}
		return sel, nil
	case BLASOpenBLAS, BLASAuto:
		g, lib, err := load()
		if err != nil {
			if req == BLASOpenBLAS {
				return BLASSelection{}, fmt.Errorf("nn: BLAS backend %q requested but unavailable: %w", req, err)
			}
			sel.Gemm, sel.Fallback = GonumGemm{}, err
			return sel, nil
		}
		sel.Gemm = &dispatchGemm{large: g, small: GonumGemm{}, minMACs: SmallGemmMACs}
		sel.Library = lib
		return sel, nil
	default:
		return BLASSelection{}, fmt.Errorf("nn: unknown BLAS backend %q: want %q, %q or %q", choice, BLASAuto, BLASOpenBLAS, BLASGonum)
	}
}

var defaultGemm struct {
	once sync.Once
	gemm Gemm
	err  error
}

// DefaultGemm returns the process-wide backend: the one named by the EVARL_BLAS
// environment variable, or "auto" when it is unset. The choice is made once; the
// first call logs it on log (the logrus standard logger when nil) with the backend,
// library and any fallback reason as fields, and later calls return the same result
// without logging. Forcing "openblas" where it cannot load is an error, never a
// silent fallback.
func DefaultGemm(log logrus.FieldLogger) (Gemm, error) {
	defaultGemm.once.Do(func() {
		if log == nil {
			log = logrus.StandardLogger()
		}
		defaultGemm.gemm, defaultGemm.err = gemmFromEnv(os.Getenv(BLASEnv), loadDefaultOpenBLAS, log)
	})
	return defaultGemm.gemm, defaultGemm.err
}

// gemmFromEnv selects the backend for the value of BLASEnv and logs the outcome.
func gemmFromEnv(choice string, load func() (Gemm, string, error), log logrus.FieldLogger) (Gemm, error) {
	sel, err := selectGemm(choice, load)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", BLASEnv, choice, err)
	}
	e := log.WithFields(sel.Fields())
	if sel.Fallback != nil {
		e.Warn("OpenBLAS not available, using pure-Go gonum BLAS (slower on large products)")
	} else {
		e.Info("BLAS backend selected")
	}
	return sel.Gemm, nil
}
