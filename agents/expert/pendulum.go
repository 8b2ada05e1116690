package expert

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

func init() { Register(classic.PendulumID, newPendulum) }

// pendulum swings up by energy pumping and balances with LQR, both computed from
// the variant's own physics (classic.PendulumParams): with θ̈ = α·sin θ + β·u
// (α = 3g/2l, β = 3/ml²), the energy E = ½θ̇² + α(cos θ − 1) is 0 at the top and
// changes at rate β·u·θ̇, so full torque along θ̇ pumps energy in and against θ̇
// takes it out. Near the top, an LQR gain from the discrete linearisation of the
// environment's Euler step holds the pendulum up.
type pendulum struct {
	env   *classic.Pendulum
	p     classic.PendulumParams
	alpha float64
	k     [2]float64
}

func newPendulum(env envs.Env) (Policy, error) {
	pe, ok := envs.As[*classic.Pendulum](env)
	if !ok {
		return nil, fmt.Errorf("environment is %T, not a Pendulum", envs.Unwrap(env))
	}
	p := pe.Params()
	step := func(s []float64, u float64) []float64 {
		n := p.Next([2]float64{s[0], s[1]}, float32(u))
		return n[:]
	}
	a, b := linearize(step, []float64{0, 0}, 0)
	k, err := dlqr(a, b, diag(1, 0.1), diag(0.001))
	if err != nil {
		return nil, err
	}
	return &pendulum{env: pe, p: p, alpha: 3 * p.G / (2 * p.L), k: [2]float64{k.At(0, 0), k.At(0, 1)}}, nil
}

func (e *pendulum) Reset() error { return nil }

// Act balances with LQR when the LQR torque is within the limit near the top, and
// pumps energy otherwise.
func (e *pendulum) Act(_ []float64, action []float64) error {
	s := e.env.State()
	th, thdot := classic.AngleNormalize(s[0]), s[1]
	umax := e.p.MaxTorque
	if math.Cos(th) > 0.85 {
		u := -(e.k[0]*th + e.k[1]*thdot)
		if math.Abs(u) <= 1.5*umax {
			action[0] = math.Max(-umax, math.Min(umax, u))
			return nil
		}
	}
	energy := 0.5*thdot*thdot + e.alpha*(math.Cos(th)-1)
	dir := 1.0
	if thdot < 0 {
		dir = -1
	}
	if energy > 0 {
		dir = -dir
	}
	action[0] = dir * umax
	return nil
}
