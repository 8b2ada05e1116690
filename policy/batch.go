package policy

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/replay"
)

// Batch is B windows of K consecutive steps, the input of training and acting: the
// same type replay's samplers fill (see replay.Batch for the layout). Windows shorter
// than K are left-padded: their first steps have Mask false, and whatever those steps
// hold is ignored (it reaches neither a real token nor the loss).
//
// Everything is raw, as the environment and the dataset give it: the model divides
// returns-to-go by Config.ReturnScale, normalises states with its state statistics,
// maps continuous actions from [Low, High] to [-1, 1] and clips timesteps to
// MaxEpisodeLen−1 itself, so there is one place where these transformations happen
// and a checkpoint carries them. When acting, the action of each window's last step
// is not known yet and is ignored (no state token sees it).
type Batch = replay.Batch

// NewBatch allocates a batch of b windows of the model's full context.
func NewBatch(cfg Config, b int) *Batch {
	return replay.NewBatch(b, cfg.Context, cfg.StateDim, cfg.Action.Width())
}

// CheckBatch verifies a batch against the configuration: sizes, discrete action
// indices at real steps, and finite values at real steps. Forward calls it, so a bad
// dataset row gives an error naming the window and step instead of a panic or a NaN
// loss.
func (cfg Config) CheckBatch(b *Batch) error { return checkBatch(b, cfg, false) }

// checkBatch is CheckBatch; acting skips the action of each window's last step (not
// known yet).
func checkBatch(b *Batch, cfg Config, acting bool) error {
	if b.B <= 0 || b.K <= 0 || b.K > cfg.Context {
		return fmt.Errorf("policy: batch B = %d, K = %d: want B > 0 and 1 ≤ K ≤ context = %d", b.B, b.K, cfg.Context)
	}
	n, s, a := b.B*b.K, cfg.StateDim, cfg.Action.Width()
	switch {
	case len(b.Returns) < n:
		return fmt.Errorf("policy: batch returns has %d entries, want B·K = %d", len(b.Returns), n)
	case len(b.States) < n*s:
		return fmt.Errorf("policy: batch states has %d entries, want B·K·state_dim = %d", len(b.States), n*s)
	case len(b.Actions) < n*a:
		return fmt.Errorf("policy: batch actions has %d entries, want B·K·%d = %d", len(b.Actions), a, n*a)
	case len(b.Timesteps) < n:
		return fmt.Errorf("policy: batch timesteps has %d entries, want B·K = %d", len(b.Timesteps), n)
	case len(b.Mask) < n:
		return fmt.Errorf("policy: batch mask has %d entries, want B·K = %d", len(b.Mask), n)
	}
	for i := 0; i < n; i++ {
		if !b.Mask[i] {
			continue
		}
		if !finite(b.Returns[i]) {
			return fmt.Errorf("policy: batch window %d step %d: return-to-go %v", i/b.K, i%b.K, b.Returns[i])
		}
		if b.Timesteps[i] < 0 {
			return fmt.Errorf("policy: batch window %d step %d: timestep %d < 0", i/b.K, i%b.K, b.Timesteps[i])
		}
		for _, v := range b.States[i*s : (i+1)*s] {
			if !finite(v) {
				return fmt.Errorf("policy: batch window %d step %d: state value %v", i/b.K, i%b.K, v)
			}
		}
		if acting && i%b.K == b.K-1 {
			continue
		}
		for _, v := range b.Actions[i*a : (i+1)*a] {
			if !finite(v) {
				return fmt.Errorf("policy: batch window %d step %d: action value %v", i/b.K, i%b.K, v)
			}
			if cfg.Action.IsDiscrete() && (v != float32(int(v)) || v < 0 || int(v) >= cfg.Action.Discrete) {
				return fmt.Errorf("policy: batch window %d step %d: discrete action %v, want an integer in [0, %d)", i/b.K, i%b.K, v, cfg.Action.Discrete)
			}
		}
	}
	return nil
}

// finite reports whether v is neither NaN nor ±Inf: its exponent bits are not all
// ones (one mask and compare per value; Check runs on every batch).
func finite(v float32) bool { return math.Float32bits(v)&0x7f800000 != 0x7f800000 }
