package expert

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

func init() { Register(classic.CartPoleID, newCartPole) }

// cartPole is an LQR controller for the variant's own cart-pole: the Euler step
// (classic.CartPoleParams.Next) is linearised about the upright equilibrium, the
// discrete Riccati equation gives a gain K, and the discrete action pushes in the
// direction of the LQR force −K·s (bang-bang, as the task only allows ±force_mag):
// the action whose force has that sign, so a variant with reversed actions
// (negative force_mag) is handled too.
type cartPole struct {
	env  *classic.CartPole
	k    [4]float64
	sign float64 // the sign of the force action 1 applies
}

// Weights of the LQR cost: the pole angle matters most, the cart position enough to
// keep the cart on the track for 500 steps.
var (
	cartPoleQ = []float64{1, 1, 10, 1}
	cartPoleR = 0.1
)

func newCartPole(env envs.Env) (Policy, error) {
	cp, ok := envs.As[*classic.CartPole](env)
	if !ok {
		return nil, fmt.Errorf("environment is %T, not a CartPole", envs.Unwrap(env))
	}
	p := cp.Params()
	step := func(s []float64, u float64) []float64 {
		n := p.Next([4]float64(s), u)
		return n[:]
	}
	a, b := linearize(step, make([]float64, 4), 0)
	k, err := dlqr(a, b, diag(cartPoleQ...), diag(cartPoleR))
	if err != nil {
		return nil, err
	}
	e := &cartPole{env: cp, sign: math.Copysign(1, p.ForceMag)}
	for i := range e.k {
		e.k[i] = k.At(0, i)
	}
	return e, nil
}

func (e *cartPole) Reset() error { return nil }

// Act takes the action that pushes along the LQR force −K·s.
func (e *cartPole) Act(_ []float64, action []float64) error {
	s := e.env.State()
	u := 0.0
	for i, k := range e.k {
		u -= k * s[i]
	}
	action[0] = 0
	if u*e.sign > 0 {
		action[0] = 1
	}
	return nil
}
