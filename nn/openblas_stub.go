//go:build !(linux || darwin) || noopenblas

package nn

import (
	"fmt"
	"runtime"
)

// openBLASAvailable reports that this build cannot load OpenBLAS: it was built with
// the noopenblas tag (a fully static binary) or for an OS where purego has no Dlopen.
const openBLASAvailable = false

// loadDefaultOpenBLAS always fails in this build; SelectGemm falls back to gonum
// (or returns the error when openblas was forced).
func loadDefaultOpenBLAS() (Gemm, string, error) {
	return nil, "", fmt.Errorf("nn: OpenBLAS support is not built in (noopenblas tag or %s/%s)", runtime.GOOS, runtime.GOARCH)
}
