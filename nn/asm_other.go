//go:build !amd64 || noasm

package nn

// Without the assembly kernels (other architectures, or the build tag noasm) every
// kernel runs its plain-Go loop; see asm_amd64.go.

const haveVector = false

func geluForwardVec(x, y []float32) bool { return false }

func geluBackwardOutVec(x, y, dy, dx []float32) bool { return false }

func expShiftVec(x []float32, m float32) bool { return false }

func layerNormRowVec(x, y, w, b []float32, eps float32) (mean, rstd float32, ok bool) {
	return 0, 0, false
}

func layerNormRowBackwardVec(x, dy, dx, w, dw, db []float32, m, rs float32) bool { return false }

// adamConsts are the scalars of one AdamW step.
type adamConsts struct {
	b1, b2, c1, c2, step, invSqrtBC2, eps, keep float32
}

func adamWVec(w, g, m, v []float32, k *adamConsts) int { return 0 }

// dropConsts are the scalars of one dropout mask.
type dropConsts struct {
	seedLo, seedHi, thrFlip uint32
	keep                    float32
}

func dropoutVec(x, res, y []float32, i0 int, k *dropConsts) int { return 0 }
