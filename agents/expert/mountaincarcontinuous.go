package expert

import (
	"fmt"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

func init() { Register(classic.MountainCarContinuousID, newMountainCarContinuous) }

// mountainCarContinuousHorizon bounds the look-ahead (the time limit is 999).
const mountainCarContinuousHorizon = 400

// mountainCarContinuous is the continuous twin of the discrete expert: full throttle
// along the velocity, with the first push chosen by simulating both directions with
// the variant's own dynamics (classic.MountainCarParams.NextContinuous) and keeping
// the one whose continuation earns the most (100 at the flag minus 0.1·a² a step).
type mountainCarContinuous struct {
	env *classic.MountainCarContinuous
	p   classic.MountainCarParams
}

func newMountainCarContinuous(env envs.Env) (Policy, error) {
	mc, ok := envs.As[*classic.MountainCarContinuous](env)
	if !ok {
		return nil, fmt.Errorf("environment is %T, not a MountainCarContinuous", envs.Unwrap(env))
	}
	return &mountainCarContinuous{env: mc, p: mc.Params()}, nil
}

func (e *mountainCarContinuous) Reset() error { return nil }

// throttle is the base policy: full force along the velocity (forward from rest).
func throttle(s [2]float64) float32 {
	if s[1] < 0 {
		return -1
	}
	return 1
}

// returnFrom simulates the base policy from s (already float32 after one step) and
// returns the reward it collects until the flag or the horizon.
func (e *mountainCarContinuous) returnFrom(s [2]float64) float64 {
	total := 0.0
	for range mountainCarContinuousHorizon {
		a := throttle(s)
		var done bool
		s, done = e.p.NextContinuous(s, a, true)
		total += classic.ContinuousReward(a, done)
		if done {
			break
		}
	}
	return total
}

// Act chooses the direction whose continuation earns the most.
func (e *mountainCarContinuous) Act(_ []float64, action []float64) error {
	st := e.env.State()
	s := [2]float64{st[0], st[1]}
	base := throttle(s)
	best, bestReturn := base, -1e300
	// Gymnasium's state is float64 only before the first step; the environment's
	// SetState uses the same test.
	state32 := float64(float32(s[0])) == s[0] && float64(float32(s[1])) == s[1]
	for _, a := range []float32{base, -base} {
		next, done := e.p.NextContinuous(s, a, state32)
		r := classic.ContinuousReward(a, done)
		if !done {
			r += e.returnFrom(next)
		}
		if r > bestReturn {
			best, bestReturn = a, r
		}
	}
	action[0] = float64(best)
	return nil
}
