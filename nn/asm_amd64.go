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

//go:noescape
func expShiftAVX2(x *float32, n int, m float32)

//go:noescape
func layerNormRowAVX2(x, y, w, b *float32, c int, eps float32) (mean, rstd float32)

//go:noescape
func layerNormRowBackwardAVX2(x, dy, dx, w, dw, db *float32, c int, m, rs float32)

// expShiftVec sets x[j] = e^(x[j] − m) on the vector unit; it reports false (and
// does nothing) when the CPU lacks it.
func expShiftVec(x []float32, m float32) bool {
	if !haveVector {
		return false
	}
	n := len(x) &^ 7
	if n > 0 {
		expShiftAVX2(&x[0], n, m)
	}
	if r := len(x) - n; r > 0 {
		var b [8]float32
		copy(b[:], x[n:])
		expShiftAVX2(&b[0], 8, m)
		copy(x[n:], b[:r])
	}
	return true
}

// layerNormRowVec is layerNormRow on the vector unit for rows whose width is a
// multiple of 8; ok is false (and nothing is done) otherwise.
func layerNormRowVec(x, y, w, b []float32, eps float32) (mean, rstd float32, ok bool) {
	c := len(x)
	if !haveVector || c == 0 || c%8 != 0 {
		return 0, 0, false
	}
	_, _, _ = y[c-1], w[c-1], b[c-1]
	mean, rstd = layerNormRowAVX2(&x[0], &y[0], &w[0], &b[0], c, eps)
	return mean, rstd, true
}

// layerNormRowBackwardVec is layerNormRowBackward on the vector unit for rows whose
// width is a multiple of 8; it reports false (and does nothing) otherwise.
func layerNormRowBackwardVec(x, dy, dx, w, dw, db []float32, m, rs float32) bool {
	c := len(x)
	if !haveVector || c == 0 || c%8 != 0 {
		return false
	}
	_, _ = dy[c-1], w[c-1]
	first := func(s []float32) *float32 {
		if s == nil {
			return nil
		}
		_ = s[c-1]
		return &s[0]
	}
	layerNormRowBackwardAVX2(&x[0], &dy[0], first(dx), &w[0], first(dw), first(db), c, m, rs)
	return true
}

// adamConsts are the scalars of one AdamW step, in the order adamWAVX2 reads them.
type adamConsts struct {
	b1, b2, c1, c2, step, invSqrtBC2, eps, keep float32
}

//go:noescape
func adamWAVX2(w, grad, m, v *float32, n int, k *adamConsts)

// adamWVec runs the update on the vector unit for the longest prefix that is a
// multiple of 8 and returns its length (0 when the CPU lacks the vector unit).
func adamWVec(w, g, m, v []float32, k *adamConsts) int {
	n := len(w) &^ 7
	if !haveVector || n == 0 {
		return 0
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	adamWAVX2(&w[0], &g[0], &m[0], &v[0], n, k)
	return n
}

// dropConsts are the scalars of one dropout mask, in the order dropoutAVX2 reads
// them: the seed's halves, the threshold with its top bit flipped, the keep scale.
type dropConsts struct {
	seedLo, seedHi, thrFlip uint32
	keep                    float32
}

//go:noescape
func dropoutAVX2(x, res, y *float32, n, i0 int, k *dropConsts)

// dropoutVec runs dropout on the vector unit for the longest prefix of x that is a
// multiple of 8 (elements numbered from i0) and returns its length (0 when the CPU
// lacks the vector unit). res may be nil.
func dropoutVec(x, res, y []float32, i0 int, k *dropConsts) int {
	n := len(x) &^ 7
	if !haveVector || n == 0 {
		return 0
	}
	_ = y[n-1]
	var r *float32
	if res != nil {
		_ = res[n-1]
		r = &res[0]
	}
	dropoutAVX2(&x[0], r, &y[0], n, i0, k)
	return n
}
