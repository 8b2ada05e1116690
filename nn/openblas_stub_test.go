//go:build !(linux || darwin) || noopenblas

package nn

import "testing"

// openBLASForBench returns nil: this build has no OpenBLAS backend.
func openBLASForBench(b *testing.B) Gemm {
	b.Log("OpenBLAS not benchmarked: built without it (noopenblas tag or unsupported OS)")
	return nil
}

// TestNoOpenBLASBuild checks that a build without OpenBLAS refuses a forced
// openblas choice and falls back to gonum on auto.
func TestNoOpenBLASBuild(t *testing.T) {
	if _, err := SelectGemm(BLASOpenBLAS); err == nil {
		t.Error("SelectGemm(openblas) in a noopenblas build: no error")
	}
	sel, err := SelectGemm(BLASAuto)
	if err != nil || sel.Gemm.Name() != BLASGonum || sel.Fallback == nil {
		t.Errorf("SelectGemm(auto) in a noopenblas build: %+v, %v; want gonum with a fallback reason", sel, err)
	}
}
