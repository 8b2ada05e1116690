//go:build !(linux || darwin) || noopenblas

// This build has no OpenBLAS backend: either it was built with the noopenblas tag,
// which keeps purego out so that CGO_ENABLED=0 gives a fully static binary (for
// scratch containers), or the OS is one where purego has no Dlopen. Only gonum
// exists; "auto" selects it with a logged reason and "openblas" is an error.

package nn

import (
	"fmt"
	"runtime"
)

// loadDefaultOpenBLAS always fails in this build; SelectGemm falls back to gonum
// (or returns the error when openblas was forced).
func loadDefaultOpenBLAS() (Gemm, string, error) {
	return nil, "", fmt.Errorf("nn: OpenBLAS support is not built in (noopenblas tag or %s/%s)", runtime.GOOS, runtime.GOARCH)
}
