package classic

import (
	"math"

	"github.com/evarl/evarl/envs"
)

// PendulumID is the registered id of the pendulum task.
const PendulumID = "Pendulum-v1"

// PendulumParams are the constants of a pendulum variant. Defaults are Gymnasium's
// (pendulum.py).
type PendulumParams struct {
	G         float64 // gravity, option "g" (10)
	M         float64 // mass, option "m" (1)
	L         float64 // length, option "l" (1)
	MaxTorque float64 // torque bound, option "max_torque" (2); actions are clipped to it
	MaxSpeed  float64 // angular speed bound (8)
	DT        float64 // s per step (0.05)
}

// DefaultPendulumParams returns Gymnasium's constants.
func DefaultPendulumParams() PendulumParams {
	return PendulumParams{G: 10, M: 1, L: 1, MaxTorque: 2, MaxSpeed: 8, DT: 0.05}
}

// AngleNormalize maps an angle to [−π, π) as Gymnasium's angle_normalize does
// (Python's floored modulo).
func AngleNormalize(x float64) float64 {
	return pyMod(x+math.Pi, 2*math.Pi) - math.Pi
}

// pyMod is NumPy's float remainder: fmod, shifted to take the divisor's sign.
func pyMod(a, b float64) float64 {
	m := math.Mod(a, b)
	if m != 0 && (b < 0) != (m < 0) {
		m += b
	} else if m == 0 {
		m = math.Copysign(0, b)
	}
	return m
}

// ClipTorque clips a float32 action to ±MaxTorque, as np.clip does on Gymnasium's
// float32 action.
func (p *PendulumParams) ClipTorque(a float32) float32 {
	return min(max(a, float32(-p.MaxTorque)), float32(p.MaxTorque))
}

// Cost is the step's cost (the negative reward) at state (θ, θ̇) under the clipped
// torque u: normalised θ² + 0.1·θ̇² + 0.001·u², the last term in float32 as NumPy 2
// computes it.
func (p *PendulumParams) Cost(s [2]float64, u float32) float64 {
	th := AngleNormalize(s[0])
	return th*th + 0.1*(s[1]*s[1]) + float64(float32(0.001)*(u*u))
}

// Next is one step from (θ, θ̇) under the clipped torque u, in Gymnasium's operation
// order (the torque term in float32, as NumPy 2 computes it).
func (p *PendulumParams) Next(s [2]float64, u float32) [2]float64 {
	th, thdot := s[0], s[1]
	torque := float32(3.0/(p.M*(p.L*p.L))) * u
	newthdot := thdot + (3*p.G/(2*p.L)*math.Sin(th)+float64(torque))*p.DT
	newthdot = min(max(newthdot, -p.MaxSpeed), p.MaxSpeed)
	newth := th + newthdot*p.DT
	return [2]float64{newth, newthdot}
}

// Pendulum is Gymnasium's Pendulum-v1 with configurable mass, length, gravity and
// torque limit: swing up and hold; never terminates (the time limit ends it).
type Pendulum struct {
	p      PendulumParams
	seeder seeder
	state  [2]float64
	obs    []float64
	obsSp  envs.Box
	actSp  envs.Box
}

var (
	_ envs.Env      = (*Pendulum)(nil)
	_ envs.Stateful = (*Pendulum)(nil)
)

// NewPendulum builds a pendulum from options g, m, l and max_torque.
func NewPendulum(opts envs.Options) (*Pendulum, error) {
	p := DefaultPendulumParams()
	r := envs.NewOptionReader(PendulumID, opts)
	p.G = r.Float("g", p.G, envs.Positive)
	p.M = r.Float("m", p.M, envs.Positive)
	p.L = r.Float("l", p.L, envs.Positive)
	p.MaxTorque = r.Float("max_torque", p.MaxTorque, envs.Positive)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	mt := f32(p.MaxTorque)
	return &Pendulum{
		p:     p,
		obs:   make([]float64, 3),
		obsSp: float32Box([]float64{-1, -1, -p.MaxSpeed}, []float64{1, 1, p.MaxSpeed}),
		actSp: envs.NewBox([]float64{-mt}, []float64{mt}),
	}, nil
}

// Params returns the variant's physics.
func (e *Pendulum) Params() PendulumParams { return e.p }

// ObservationSpace is Box(3): cos θ, sin θ, θ̇.
func (e *Pendulum) ObservationSpace() envs.Space { return e.obsSp }

// ActionSpace is Box(−max_torque, max_torque, (1,)); values outside are clipped.
func (e *Pendulum) ActionSpace() envs.Space { return e.actSp }

// Reset draws θ uniformly from [−π, π] and θ̇ from [−1, 1].
func (e *Pendulum) Reset(seed int64) ([]float64, envs.Info, error) {
	if err := e.seeder.reseed(PendulumID, seed); err != nil {
		return nil, envs.Info{}, err
	}
	e.state[0] = e.seeder.rng.Uniform(-math.Pi, math.Pi)
	e.state[1] = e.seeder.rng.Uniform(-1, 1)
	return e.observe(), envs.Info{}, nil
}

// Step applies the clipped torque for 0.05 s.
func (e *Pendulum) Step(action []float64) (envs.Transition, error) {
	a, err := continuousAction(PendulumID, e.actSp, action)
	if err != nil {
		return envs.Transition{}, err
	}
	u := e.p.ClipTorque(a)
	cost := e.p.Cost(e.state, u)
	e.state = e.p.Next(e.state, u)
	return envs.Transition{Obs: e.observe(), Reward: -cost}, nil
}

func (e *Pendulum) observe() []float64 {
	sin, cos := math.Sincos(e.state[0])
	e.obs[0], e.obs[1], e.obs[2] = f32(cos), f32(sin), f32(e.state[1])
	return e.obs
}

// State returns (θ, θ̇).
func (e *Pendulum) State() []float64 { return []float64{e.state[0], e.state[1]} }

// SetState sets (θ, θ̇); θ̇ must be within the speed limit.
func (e *Pendulum) SetState(state []float64) error {
	if err := checkState(PendulumID, state, "theta", "theta_dot"); err != nil {
		return err
	}
	if err := checkRange(PendulumID, "theta_dot", state[1], -e.p.MaxSpeed, e.p.MaxSpeed); err != nil {
		return err
	}
	e.state = [2]float64{state[0], state[1]}
	return nil
}
