package expert

import (
	"fmt"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

func init() { Register(classic.MountainCarID, newMountainCar) }

// mountainCarHorizon bounds the simulated look-ahead (the task's time limit is 200).
const mountainCarHorizon = 400

// mountainCar pumps energy: the base policy pushes in the direction the car moves,
// which adds energy every step. On top of it, one step of policy improvement with the
// variant's own dynamics (classic.MountainCarParams.NextDiscrete) picks the first
// push (left or right) after which the base policy reaches the flag soonest, which
// fixes the base policy's one weakness, the choice of direction from rest.
type mountainCar struct {
	env *classic.MountainCar
	p   classic.MountainCarParams
}

func newMountainCar(env envs.Env) (Policy, error) {
	mc, ok := envs.As[*classic.MountainCar](env)
	if !ok {
		return nil, fmt.Errorf("environment is %T, not a MountainCar", envs.Unwrap(env))
	}
	return &mountainCar{env: mc, p: mc.Params()}, nil
}

func (e *mountainCar) Reset() error { return nil }

// pump is the base policy: push along the velocity (right from rest).
func pump(s [2]float64) int {
	if s[1] < 0 {
		return 0
	}
	return 2
}

// stepsToGoal simulates the base policy from s and counts the steps to the flag
// (mountainCarHorizon+1 if it never gets there).
func (e *mountainCar) stepsToGoal(s [2]float64) int {
	for n := 0; n <= mountainCarHorizon; n++ {
		if e.p.AtGoal(s) {
			return n
		}
		s = e.p.NextDiscrete(s, pump(s))
	}
	return mountainCarHorizon + 1
}

// Act chooses the push whose continuation reaches the flag first.
func (e *mountainCar) Act(_ []float64, action []float64) error {
	st := e.env.State()
	s := [2]float64{st[0], st[1]}
	best, bestSteps := pump(s), mountainCarHorizon+2
	for _, a := range []int{pump(s), 2 - pump(s)} {
		if n := e.stepsToGoal(e.p.NextDiscrete(s, a)); n < bestSteps {
			best, bestSteps = a, n
		}
	}
	action[0] = float64(best)
	return nil
}
