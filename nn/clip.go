package nn

import "math"

// ClipGradNorm scales the gradients of the trainable parameters among params so
// that their global L2 norm (all gradients as one vector) is at most maxNorm, and
// returns the norm before clipping, for logging. As torch.nn.utils.clip_grad_norm_,
// the scale is maxNorm/(norm + 1e-6) and is applied only when below 1; the sum of
// squares is accumulated in float64. The DT reference clips at 0.25.
//
// A non-finite norm (a NaN or Inf gradient) leaves the gradients untouched — torch
// would scale them by 0 or NaN — and is returned so the caller can skip the step.
// maxNorm must be positive: a programming error otherwise.
func ClipGradNorm(params []*Param, maxNorm float64) float64 {
	if !(maxNorm > 0) {
		panic("nn: ClipGradNorm: maxNorm must be > 0")
	}
	// Four interleaved partial sums per tensor: one running sum waits on the latency
	// of every addition.
	var sum float64
	for _, p := range params {
		g := p.Grad
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(g); i += 4 {
			a, b, c, d := float64(g[i]), float64(g[i+1]), float64(g[i+2]), float64(g[i+3])
			s0 += a * a
			s1 += b * b
			s2 += c * c
			s3 += d * d
		}
		for ; i < len(g); i++ {
			s0 += float64(g[i]) * float64(g[i])
		}
		sum += (s0 + s1) + (s2 + s3)
	}
	norm := math.Sqrt(sum)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm
	}
	if scale := maxNorm / (norm + 1e-6); scale < 1 {
		s := float32(scale)
		for _, p := range params {
			for i := range p.Grad {
				p.Grad[i] *= s
			}
		}
	}
	return norm
}
