//go:build amd64 && !noasm

package nn

import "golang.org/x/sys/cpu"

// Vector kernels: on x86-64 with AVX2 and FMA, the elementwise kernels that the
// profile of a training step shows (GELU forward and backward) run eight lanes at a
// time in assembly (asm_amd64.s). Each has a plain-Go twin that runs everywhere else
// (and under the build tag noasm), and tests compare both with the textbook formula.
//
// A slice whose length is not a multiple of 8 has its last elements computed by the
// same vector code on a padded copy, so every element of a slice gets the same
// arithmetic wherever the work is split: results do not depend on the number of
// cores. They may differ in the last bits between machines with and without AVX2
// (fused multiply-adds), as they differ between the OpenBLAS and gonum backends.

// haveVector reports whether the assembly kernels can run on this CPU.
var haveVector = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func geluForwardAVX2(x, y *float32, n int)

//go:noescape
func geluBackwardOutAVX2(x, y, dy, dx *float32, n int)

// geluForwardVec is geluForward on the vector unit; it reports false (and does
// nothing) when the CPU lacks it.
func geluForwardVec(x, y []float32) bool {
	if !haveVector {
		return false
	}
	y = y[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		geluForwardAVX2(&x[0], &y[0], n)
	}
	if r := len(x) - n; r > 0 {
		var bx, by [8]float32
		copy(bx[:], x[n:])
		geluForwardAVX2(&bx[0], &by[0], 8)
		copy(y[n:], by[:r])
	}
	return true
}

// geluBackwardOutVec is geluBackwardWithOutput on the vector unit; it reports false
// (and does nothing) when the CPU lacks it.
func geluBackwardOutVec(x, y, dy, dx []float32) bool {
	if !haveVector {
		return false
	}
	y, dy, dx = y[:len(x)], dy[:len(x)], dx[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		geluBackwardOutAVX2(&x[0], &y[0], &dy[0], &dx[0], n)
	}
	if r := len(x) - n; r > 0 {
		var bx, by, bdy, bdx [8]float32
		copy(bx[:], x[n:])
		copy(by[:], y[n:])
		copy(bdy[:], dy[n:])
		copy(bdx[:], dx[n:])
		geluBackwardOutAVX2(&bx[0], &by[0], &bdy[0], &bdx[0], 8)
		copy(dx[n:], bdx[:r])
	}
	return true
}
