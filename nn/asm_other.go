//go:build !amd64 || noasm

package nn

// Without the assembly kernels (other architectures, or the build tag noasm) every
// kernel runs its plain-Go loop; see asm_amd64.go.

const haveVector = false

func geluForwardVec(x, y []float32) bool { return false }

func geluBackwardOutVec(x, y, dy, dx []float32) bool { return false }
