package policy

import (
	"fmt"
	"math"
)

// Batch is B windows of K consecutive steps, the input of training and acting.
// Windows shorter than K are left-padded: their first steps have Mask false, and
// whatever those steps hold is ignored (it reaches neither a real token nor the loss).
//
// Everything is raw, as the environment and the dataset give it: the model divides
// returns-to-go by Config.ReturnScale, normalises states with its state statistics,
// and maps continuous actions from [Low, High] to [-1, 1] itself, so there is one place
// where these transformations happen and a checkpoint carries them.
type Batch struct {
	// B is the number of windows, K the steps per window (1 ≤ K ≤ Config.Context).
	B, K int
	// Returns holds the return-to-go at each step, (B, K).
	Returns []float32
	// States holds the observation at each step, (B, K, StateDim).
	States []float32
	// Actions holds the action taken at each step, (B, K, Action.Width()): a discrete
	// action is its index stored as a float, as in replay.Episode. When acting, the
	// action of the last step is not known yet and is ignored (no state token sees it).
	Actions []float32
	// Timesteps holds each step's index in its episode, (B, K); values past
	// MaxEpisodeLen-1 share the last timestep embedding.
	Timesteps []int
	// Mask is true for a real step and false for padding, (B, K).
	Mask []bool
}

// NewBatch allocates a batch of b windows of the model's full context.
func NewBatch(cfg Config, b int) *Batch {
	k := cfg.Context
	return &Batch{
		B: b, K: k,
		Returns:   make([]float32, b*k),
		States:    make([]float32, b*k*cfg.StateDim),
		Actions:   make([]float32, b*k*cfg.Action.Width()),
		Timesteps: make([]int, b*k),
		Mask:      make([]bool, b*k),
	}
}

// Check verifies the batch against the configuration: sizes, discrete action indices
// at real steps, and finite values at real steps. Forward calls it, so a bad dataset
// row gives an error naming the window and step instead of a panic or a NaN loss.
func (b *Batch) Check(cfg Config) error { return b.check(cfg, false) }

// check is Check; acting skips the action of each window's last step (not known yet).
func (b *Batch) check(cfg Config, acting bool) error {
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

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
