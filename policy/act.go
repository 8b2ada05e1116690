package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Act predicts the next action of each of bt.B environments (a vector env) from its
// recent context and writes it to actions, (B, Action.Width()), in environment units:
// a discrete action as its index, a continuous one inside [Low, High].
//
// Window w of bt holds environment w's last steps, left-padded, the current step
// last: its return-to-go, state and timestep are the current ones, its action is not
// known yet and is ignored. bt.K may be shorter than the configured context: callers
// pass the longest history among the environments (at most Context), so the first
// steps of an episode cost 3k tokens rather than 3K.
//
// greedy takes the mode: the most probable discrete action, or tanh of the mean.
// Otherwise actions are sampled from rng (a categorical draw from the softmax, or
// tanh(μ + σ·ε) for the Gaussian head); the deterministic head has nothing to sample
// and returns its prediction either way. Dropout is off while acting, whatever the
// mode.
//
// Why no key/value cache: the DT has no positional embedding but its window slides.
// Once an episode is longer than K steps, every step drops the oldest token, and the
// keys and values of every later token in blocks ≥ 1 depended on it through
// attention, so a cache is invalid at every step after the first K of an episode.
// What Act does instead: no allocation (the buffers of Forward are reused, grown only
// for a larger batch), the shortest window that holds every environment's history,
// and ln_f and the head evaluated at the state tokens only.
func (m *Model) Act(bt *Batch, greedy bool, rng *rand.Rand, actions []float32) error {
	if err := checkBatch(bt, m.cfg, true); err != nil {
		return err
	}
	A := m.cfg.Action.Width()
	if len(actions) < bt.B*A {
		return fmt.Errorf("policy: Act: actions has %d entries, want B·%d = %d", len(actions), A, bt.B*A)
	}
	if !greedy && rng == nil && m.cfg.Head != HeadDeterministic {
		return fmt.Errorf("policy: Act: sampling needs a *rand.Rand")
	}
	for w := 0; w < bt.B; w++ {
		if !bt.Mask[w*bt.K+bt.K-1] {
			return fmt.Errorf("policy: Act: window %d: the last step (the current one) is padding", w)
		}
	}
	wasTrain := m.train
	m.SetTrain(false)
	m.forward(bt, true)
	m.SetTrain(wasTrain)

	buf, O := m.buf, m.headOut
	lo, hi := m.cfg.Action.Low, m.cfg.Action.High
	scale := func(d int, u float32) float32 { return lo[d] + (u+1)*0.5*(hi[d]-lo[d]) }
	for w := 0; w < bt.B; w++ {
		r := w*bt.K + bt.K - 1 // the current step's row
		out := buf.out[r*O : (r+1)*O]
		dst := actions[w*A : (w+1)*A]
		switch m.cfg.Head {
		case HeadCategorical:
			dst[0] = float32(pickCategorical(out, greedy, rng))
		case HeadDeterministic:
			for d := range dst {
				dst[d] = clampTo(scale(d, buf.pred[r*A+d]), lo[d], hi[d])
			}
		case HeadGaussian:
			for d := range dst {
				u := float64(buf.mu[r*A+d])
				if !greedy {
					u += math.Exp(float64(buf.logStd[r*A+d])) * rng.NormFloat64()
				}
				dst[d] = clampTo(scale(d, float32(math.Tanh(u))), lo[d], hi[d])
			}
		}
	}
	return nil
}

// pickCategorical returns the argmax of the logits, or a draw from their softmax.
func pickCategorical(logits []float32, greedy bool, rng *rand.Rand) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if greedy {
		return best
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - logits[best]))
	}
	u := rng.Float64() * sum
	for i, v := range logits {
		u -= math.Exp(float64(v - logits[best]))
		if u < 0 {
			return i
		}
	}
	return len(logits) - 1 // rounding left a sliver of mass
}

// clampTo keeps a rescaled action inside its bounds despite float rounding.
func clampTo(v, lo, hi float32) float32 { return min(max(v, lo), hi) }
