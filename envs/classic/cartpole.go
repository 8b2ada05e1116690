package classic

import (
	"math"

	"github.com/evarl/evarl/envs"
)

// CartPoleID is the registered id of the cart-pole task.
const CartPoleID = "CartPole-v1"

// CartPoleParams are the physical constants of a cart-pole variant. Defaults are
// Gymnasium's (gymnasium/envs/classic_control/cartpole.py).
type CartPoleParams struct {
	Gravity  float64 // m/s², option "gravity" (9.8)
	MassCart float64 // kg, option "masscart" (1.0)
	MassPole float64 // kg, option "masspole" (0.1)
	Length   float64 // half the pole's length in m, option "length" (0.5)
	// ForceMag is the push in N, option "force_mag" (10.0): action 1 pushes with
	// +ForceMag, action 0 with −ForceMag, as in Gymnasium, so a negative value
	// reverses which way each action pushes.
	ForceMag float64
	Tau      float64 // s per step (0.02), Euler integration
	// XThreshold and ThetaThreshold end the episode (2.4 m, 12°).
	XThreshold, ThetaThreshold float64
}

// DefaultCartPoleParams returns Gymnasium's constants.
func DefaultCartPoleParams() CartPoleParams {
	return CartPoleParams{
		Gravity: 9.8, MassCart: 1.0, MassPole: 0.1, Length: 0.5, ForceMag: 10.0,
		Tau: 0.02, XThreshold: 2.4, ThetaThreshold: 12 * 2 * math.Pi / 360,
	}
}

// TotalMass is masspole + masscart, computed as Gymnasium does.
func (p *CartPoleParams) TotalMass() float64 { return p.MassPole + p.MassCart }

// PoleMassLength is masspole·length.
func (p *CartPoleParams) PoleMassLength() float64 { return p.MassPole * p.Length }

// Next is one Euler step of the dynamics from state s = (x, ẋ, θ, θ̇) under a
// horizontal force, in Gymnasium's operation order.
func (p *CartPoleParams) Next(s [4]float64, force float64) [4]float64 {
	x, xDot, theta, thetaDot := s[0], s[1], s[2], s[3]
	total := p.TotalMass()
	pml := p.PoleMassLength()
	sin, cos := math.Sincos(theta) // bit-identical to math.Sin, math.Cos
	temp := (force + pml*(thetaDot*thetaDot)*sin) / total
	thetaAcc := (p.Gravity*sin - cos*temp) / (p.Length * (4.0/3.0 - p.MassPole*(cos*cos)/total))
	xAcc := temp - pml*thetaAcc*cos/total
	x = x + p.Tau*xDot
	xDot = xDot + p.Tau*xAcc
	theta = theta + p.Tau*thetaDot
	thetaDot = thetaDot + p.Tau*thetaAcc
	return [4]float64{x, xDot, theta, thetaDot}
}

// Failed reports Gymnasium's termination: the cart left the track or the pole fell
// past the threshold angle.
func (p *CartPoleParams) Failed(s [4]float64) bool {
	return s[0] < -p.XThreshold || s[0] > p.XThreshold || s[2] < -p.ThetaThreshold || s[2] > p.ThetaThreshold
}

// CartPole is Gymnasium's CartPole-v1 with configurable physics: push the cart left
// (action 0) or right (1) to keep the pole upright; reward 1 per step.
type CartPole struct {
	p      CartPoleParams
	seeder seeder
	state  [4]float64
	// beyond counts steps taken after termination, like Gymnasium's
	// steps_beyond_terminated (−1 = not terminated yet).
	beyond int
	obs    []float64
	obsSp  envs.Box
}

var (
	_ envs.Env      = (*CartPole)(nil)
	_ envs.Stateful = (*CartPole)(nil)
)

// NewCartPole builds a cart-pole from options gravity, masscart, masspole, length and
// force_mag (negative: the actions push the other way); absent options take
// Gymnasium's values.
func NewCartPole(opts envs.Options) (*CartPole, error) {
	p := DefaultCartPoleParams()
	r := envs.NewOptionReader(CartPoleID, opts)
	p.Gravity = r.Float("gravity", p.Gravity, envs.Positive)
	p.MassCart = r.Float("masscart", p.MassCart, envs.Positive)
	p.MassPole = r.Float("masspole", p.MassPole, envs.Positive)
	p.Length = r.Float("length", p.Length, envs.Positive)
	p.ForceMag = r.Float("force_mag", p.ForceMag, envs.NonZero)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	inf := math.Inf(1)
	high := []float64{p.XThreshold * 2, inf, p.ThetaThreshold * 2, inf}
	low := []float64{-high[0], -inf, -high[2], -inf}
	return &CartPole{p: p, beyond: -1, obs: make([]float64, 4), obsSp: float32Box(low, high)}, nil
}

// Params returns the variant's physics.
func (e *CartPole) Params() CartPoleParams { return e.p }

// ObservationSpace is Box(4): cart position, velocity, pole angle, angular velocity.
func (e *CartPole) ObservationSpace() envs.Space { return e.obsSp }

// ActionSpace is Discrete(2): push left, push right.
func (e *CartPole) ActionSpace() envs.Space { return envs.Discrete{N: 2} }

// Reset draws each state variable uniformly from [−0.05, 0.05].
func (e *CartPole) Reset(seed int64) ([]float64, envs.Info, error) {
	if err := e.seeder.reseed(CartPoleID, seed); err != nil {
		return nil, envs.Info{}, err
	}
	for i := range e.state {
		e.state[i] = e.seeder.rng.Uniform(-0.05, 0.05)
	}
	e.beyond = -1
	return e.observe(), envs.Info{}, nil
}

// Step pushes the cart and advances 0.02 s.
func (e *CartPole) Step(action []float64) (envs.Transition, error) {
	a, err := discreteAction(CartPoleID, 2, action)
	if err != nil {
		return envs.Transition{}, err
	}
	force := -e.p.ForceMag
	if a == 1 {
		force = e.p.ForceMag
	}
	e.state = e.p.Next(e.state, force)
	terminated := e.p.Failed(e.state)
	reward := 1.0
	if terminated {
		e.beyond++
		if e.beyond > 0 {
			reward = 0 // Gymnasium: stepping past termination earns nothing
		}
	}
	return envs.Transition{Obs: e.observe(), Reward: reward, Terminated: terminated}, nil
}

func (e *CartPole) observe() []float64 {
	for i, v := range e.state {
		e.obs[i] = f32(v)
	}
	return e.obs
}

// State returns (x, ẋ, θ, θ̇) in float64.
func (e *CartPole) State() []float64 { s := e.state; return s[:] }

// SetState sets (x, ẋ, θ, θ̇); the next Step starts from it as from a fresh episode.
func (e *CartPole) SetState(state []float64) error {
	if err := checkState(CartPoleID, state, "x", "x_dot", "theta", "theta_dot"); err != nil {
		return err
	}
	copy(e.state[:], state)
	e.beyond = -1
	return nil
}
