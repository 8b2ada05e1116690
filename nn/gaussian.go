package nn

import (
	"fmt"
	"math"
)

// The tanh-squashed Gaussian policy of the Online Decision Transformer (Zheng et al.
// 2022, following SAC): u ~ N(mu, σ²) per action dimension, action a = tanh(u).
// mu and logStd are (n, d), one row per predicted action; per-row outputs are sums
// over the d dimensions, so the trainer can mask rows and average as it needs.
//
// By change of variables, log p(a) = log N(u; mu, σ) − log(1 − tanh²u), and the
// Jacobian term is evaluated in the stable form
//
//	log(1 − tanh²u) = 2·(log 2 − u − softplus(−2u)),
//
// which stays finite for |u| where 1 − tanh²u underflows.
//
// Entropy: the Gaussian's is closed form (GaussianEntropy), the squashed one has no
// closed form. ODT estimates it from samples as −log p(a) with a drawn by the
// reparameterisation a = tanh(mu + σ·ε); TanhGaussianEntropySample does that for one
// sample ε per element, which is what ODT's code uses.

const (
	halfLog2Pi = 0.9189385332046727 // ½·log(2π)
	ln2        = 0.6931471805599453
	// ActionClip bounds |a| before atanh: actions stored at ±1 would give u = ±Inf.
	// ODT clamps to ±(1 − 1e-6) the same way.
	ActionClip = 1 - 1e-6
)

// softplus is log(1 + eˣ) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// logDetTanh is log(1 − tanh²u) in the stable form.
func logDetTanh(u float64) float64 { return 2 * (ln2 - u - softplus(-2*u)) }

// atanhClipped maps a squashed action back to u, clipping |a| to ActionClip.
func atanhClipped(a float32) float64 {
	x := math.Max(-ActionClip, math.Min(ActionClip, float64(a)))
	return math.Atanh(x)
}

// checkGaussian panics unless the per-row buffer rows has n entries and every
// non-nil element buffer n·d.
func checkGaussian(what string, n, d int, rows []float32, elems ...[]float32) {
	if len(rows) < n {
		panic(fmt.Sprintf("nn: %s: per-row buffer of %d < %d rows", what, len(rows), n))
	}
	for _, b := range elems {
		if b != nil && len(b) < n*d {
			panic(fmt.Sprintf("nn: %s: buffer of %d < %d rows × %d", what, len(b), n, d))
		}
	}
}

// TanhGaussianLogProb writes, for each of n rows, logp[r] = Σ_d log p(a) of the
// squashed action a (n, d) under tanh(N(mu, exp(logStd)²)).
func TanhGaussianLogProb(mu, logStd, action, logp []float32, n, d int) {
	checkGaussian("tanh-Gaussian log-prob", n, d, logp, mu, logStd, action)
	for r := 0; r < n; r++ {
		var s float64
		for i := r * d; i < (r+1)*d; i++ {
			u := atanhClipped(action[i])
			ls := float64(logStd[i])
			z := (u - float64(mu[i])) * math.Exp(-ls)
			s += -0.5*z*z - ls - halfLog2Pi - logDetTanh(u)
		}
		logp[r] = float32(s)
	}
}

// TanhGaussianLogProbBackward adds dlogp[r]·∂logp[r]/∂mu and ∂/∂logStd into dmu and
// dlogStd (either may be nil): with z = (u − mu)/σ, ∂/∂mu = z/σ and ∂/∂logσ = z² − 1.
// The action is data, so no gradient flows to it.
func TanhGaussianLogProbBackward(mu, logStd, action, dlogp, dmu, dlogStd []float32, n, d int) {
	checkGaussian("tanh-Gaussian log-prob backward", n, d, dlogp, mu, logStd, action, dmu, dlogStd)
	for r := 0; r < n; r++ {
		g := float64(dlogp[r])
		if g == 0 {
			continue
		}
		for i := r * d; i < (r+1)*d; i++ {
			u := atanhClipped(action[i])
			inv := math.Exp(-float64(logStd[i]))
			z := (u - float64(mu[i])) * inv
			if dmu != nil {
				dmu[i] += float32(g * z * inv)
			}
			if dlogStd != nil {
				dlogStd[i] += float32(g * (z*z - 1))
			}
		}
	}
}

// GaussianEntropy writes the closed-form entropy of the unsquashed Gaussian,
// ent[r] = Σ_d (½ + ½·log 2π + logStd), for each of n rows. Its gradient with respect
// to logStd is 1 per element (add dent[r] to each dlogStd of the row).
func GaussianEntropy(logStd, ent []float32, n, d int) {
	checkGaussian("Gaussian entropy", n, d, ent, logStd)
	for r := 0; r < n; r++ {
		var s float64
		for i := r * d; i < (r+1)*d; i++ {
			s += 0.5 + halfLog2Pi + float64(logStd[i])
		}
		ent[r] = float32(s)
	}
}

// GaussianEntropyBackward adds dent[r] into every dlogStd element of row r.
func GaussianEntropyBackward(dent, dlogStd []float32, n, d int) {
	checkGaussian("Gaussian entropy backward", n, d, dent, dlogStd)
	for r := 0; r < n; r++ {
		for i := r * d; i < (r+1)*d; i++ {
			dlogStd[i] += dent[r]
		}
	}
}

// TanhGaussianEntropySample writes the one-sample estimate of the squashed entropy,
// ent[r] = −Σ_d log p(tanh(u)) with u = mu + σ·eps, for each of n rows. eps (n, d)
// holds standard normal noise the caller draws from its seeded *rand.Rand and passes
// again to the backward. This estimate is unbiased for the entropy of tanh(N(mu, σ²)),
// not the Gaussian's (GaussianEntropy).
func TanhGaussianEntropySample(mu, logStd, eps, ent []float32, n, d int) {
	checkGaussian("tanh-Gaussian entropy", n, d, ent, mu, logStd, eps)
	for r := 0; r < n; r++ {
		var s float64
		for i := r * d; i < (r+1)*d; i++ {
			ls, e := float64(logStd[i]), float64(eps[i])
			u := float64(mu[i]) + math.Exp(ls)*e
			// −log N(u; mu, σ) = ½ε² + logσ + ½log2π, then the Jacobian term.
			s += 0.5*e*e + ls + halfLog2Pi + logDetTanh(u)
		}
		ent[r] = float32(s)
	}
}

// TanhGaussianEntropySampleBackward adds dent[r]·∂ent[r]/∂mu and ∂/∂logStd into dmu
// and dlogStd (either may be nil), differentiating through the sample
// (reparameterisation, as ODT's rsample): ∂log(1−tanh²u)/∂u = −2·tanh u, so
// ∂ent/∂mu = −2·tanh u and ∂ent/∂logσ = 1 − 2·tanh u·σ·ε.
func TanhGaussianEntropySampleBackward(mu, logStd, eps, dent, dmu, dlogStd []float32, n, d int) {
	checkGaussian("tanh-Gaussian entropy backward", n, d, dent, mu, logStd, eps, dmu, dlogStd)
	for r := 0; r < n; r++ {
		g := float64(dent[r])
		if g == 0 {
			continue
		}
		for i := r * d; i < (r+1)*d; i++ {
			sigma, e := math.Exp(float64(logStd[i])), float64(eps[i])
			du := -2 * math.Tanh(float64(mu[i])+sigma*e)
			if dmu != nil {
				dmu[i] += float32(g * du)
			}
			if dlogStd != nil {
				dlogStd[i] += float32(g * (1 + du*sigma*e))
			}
		}
	}
}
