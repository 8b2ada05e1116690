package classic

import (
	"math"

	"github.com/evarl/evarl/envs"
)

// AcrobotID is the registered id of the acrobot task.
const AcrobotID = "Acrobot-v1"

// AcrobotParams are the constants of an acrobot variant. Defaults are Gymnasium's
// (acrobot.py, the "book" dynamics of Sutton & Barto).
type AcrobotParams struct {
	Link1Length, Link2Length float64 // m, options link_length_1/2 (1, 1)
	Link1Mass, Link2Mass     float64 // kg, options link_mass_1/2 (1, 1)
	Link1COM, Link2COM       float64 // centre of mass from the joint, options link_com_pos_1/2 (0.5, 0.5)
	LinkMOI                  float64 // moment of inertia of each link, option link_moi (1)
	Gravity                  float64 // 9.8
	MaxVel1, MaxVel2         float64 // angular speed limits (4π, 9π)
	DT                       float64 // s per step (0.2), one RK4 step
}

// DefaultAcrobotParams returns Gymnasium's constants.
func DefaultAcrobotParams() AcrobotParams {
	return AcrobotParams{
		Link1Length: 1, Link2Length: 1, Link1Mass: 1, Link2Mass: 1, Link1COM: 0.5, Link2COM: 0.5,
		LinkMOI: 1, Gravity: 9.8, MaxVel1: 4 * math.Pi, MaxVel2: 9 * math.Pi, DT: 0.2,
	}
}

// AcrobotTorques are the torques of actions 0, 1, 2.
var AcrobotTorques = [3]float64{-1, 0, 1}

// dsdt is Gymnasium's _dsdt: the time derivative of (θ1, θ2, θ̇1, θ̇2) under torque a.
func (p *AcrobotParams) dsdt(s [4]float64, a float64) [4]float64 {
	m1, m2 := p.Link1Mass, p.Link2Mass
	l1 := p.Link1Length
	lc1, lc2 := p.Link1COM, p.Link2COM
	i1, i2 := p.LinkMOI, p.LinkMOI
	g := p.Gravity
	theta1, theta2, dtheta1, dtheta2 := s[0], s[1], s[2], s[3]
	sin2, cos2 := math.Sincos(theta2)
	d1 := m1*(lc1*lc1) + m2*((l1*l1)+(lc2*lc2)+2*l1*lc2*cos2) + i1 + i2
	d2 := m2*((lc2*lc2)+l1*lc2*cos2) + i2
	phi2 := m2 * lc2 * g * math.Cos(theta1+theta2-math.Pi/2.0)
	phi1 := -m2*l1*lc2*(dtheta2*dtheta2)*sin2 - 2*m2*l1*lc2*dtheta2*dtheta1*sin2 +
		(m1*lc1+m2*l1)*g*math.Cos(theta1-math.Pi/2) + phi2
	ddtheta2 := (a + d2/d1*phi1 - m2*l1*lc2*(dtheta1*dtheta1)*sin2 - phi2) / (m2*(lc2*lc2) + i2 - (d2*d2)/d1)
	ddtheta1 := -(d2*ddtheta2 + phi1) / d1
	return [4]float64{dtheta1, dtheta2, ddtheta1, ddtheta2}
}

// Next is one step: an RK4 step of DT seconds under the torque, then θ1, θ2 wrapped
// to [−π, π] and the speeds clipped, in Gymnasium's operation order.
func (p *AcrobotParams) Next(s [4]float64, torque float64) [4]float64 {
	dt := p.DT
	dt2 := dt / 2.0
	var y [4]float64
	k1 := p.dsdt(s, torque)
	for i := range y {
		y[i] = s[i] + dt2*k1[i]
	}
	k2 := p.dsdt(y, torque)
	for i := range y {
		y[i] = s[i] + dt2*k2[i]
	}
	k3 := p.dsdt(y, torque)
	for i := range y {
		y[i] = s[i] + dt*k3[i]
	}
	k4 := p.dsdt(y, torque)
	var ns [4]float64
	for i := range ns {
		ns[i] = s[i] + dt/6.0*(k1[i]+2*k2[i]+2*k3[i]+k4[i])
	}
	ns[0] = wrapAngle(ns[0])
	ns[1] = wrapAngle(ns[1])
	ns[2] = min(max(ns[2], -p.MaxVel1), p.MaxVel1)
	ns[3] = min(max(ns[3], -p.MaxVel2), p.MaxVel2)
	return ns
}

// wrapAngle is Gymnasium's wrap(x, −π, π): add or subtract 2π until x is inside.
func wrapAngle(x float64) float64 {
	const lo, hi = -math.Pi, math.Pi
	diff := hi - lo
	for x > hi {
		x = x - diff
	}
	for x < lo {
		x = x + diff
	}
	return x
}

// TipHeight is the height of the free end above the pivot, −l1·cos θ1 − l2·cos(θ1+θ2).
func (p *AcrobotParams) TipHeight(s [4]float64) float64 {
	return p.tipHeight(math.Cos(s[0]), s)
}

// tipHeight is TipHeight with cos θ1 already computed.
func (p *AcrobotParams) tipHeight(cos1 float64, s [4]float64) float64 {
	return -p.Link1Length*cos1 - p.Link2Length*math.Cos(s[1]+s[0])
}

// TargetHeight is the height the tip must pass: 1 m for Gymnasium's unit links, half
// the full reach (l1+l2)/2 in general.
func (p *AcrobotParams) TargetHeight() float64 { return (p.Link1Length + p.Link2Length) / 2 }

// Reached reports Gymnasium's termination: the tip is above the target height.
func (p *AcrobotParams) Reached(s [4]float64) bool { return p.TipHeight(s) > p.TargetHeight() }

// Acrobot is Gymnasium's Acrobot-v1 with configurable links: torque the middle joint
// (−1, 0, +1) to swing the tip above the line; reward −1 per step until then.
type Acrobot struct {
	p      AcrobotParams
	seeder seeder
	state  [4]float64
	obs    []float64
	obsSp  envs.Box
}

var (
	_ envs.Env      = (*Acrobot)(nil)
	_ envs.Stateful = (*Acrobot)(nil)
)

// NewAcrobot builds an acrobot from options link_length_1, link_length_2,
// link_mass_1, link_mass_2, link_com_pos_1, link_com_pos_2 and link_moi.
func NewAcrobot(opts envs.Options) (*Acrobot, error) {
	p := DefaultAcrobotParams()
	r := envs.NewOptionReader(AcrobotID, opts)
	p.Link1Length = r.Float("link_length_1", p.Link1Length, envs.Positive)
	p.Link2Length = r.Float("link_length_2", p.Link2Length, envs.Positive)
	p.Link1Mass = r.Float("link_mass_1", p.Link1Mass, envs.Positive)
	p.Link2Mass = r.Float("link_mass_2", p.Link2Mass, envs.Positive)
	p.Link1COM = r.Float("link_com_pos_1", p.Link1COM, envs.Positive)
	p.Link2COM = r.Float("link_com_pos_2", p.Link2COM, envs.Positive)
	p.LinkMOI = r.Float("link_moi", p.LinkMOI, envs.Positive)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	high := []float64{1, 1, 1, 1, p.MaxVel1, p.MaxVel2}
	low := make([]float64, len(high))
	for i, h := range high {
		low[i] = -h
	}
	return &Acrobot{p: p, obs: make([]float64, 6), obsSp: float32Box(low, high)}, nil
}

// Params returns the variant's physics.
func (e *Acrobot) Params() AcrobotParams { return e.p }

// ObservationSpace is Box(6): cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2.
func (e *Acrobot) ObservationSpace() envs.Space { return e.obsSp }

// ActionSpace is Discrete(3): torque −1, 0, +1.
func (e *Acrobot) ActionSpace() envs.Space { return envs.Discrete{N: 3} }

// Reset draws each state variable uniformly from [−0.1, 0.1], stored as float32 as
// Gymnasium stores it.
func (e *Acrobot) Reset(seed int64) ([]float64, envs.Info, error) {
	if err := e.seeder.reseed(AcrobotID, seed); err != nil {
		return nil, envs.Info{}, err
	}
	for i := range e.state {
		e.state[i] = f32(e.seeder.rng.Uniform(-0.1, 0.1))
	}
	obs, _ := e.observe()
	return obs, envs.Info{}, nil
}

// Step applies the torque for 0.2 s.
func (e *Acrobot) Step(action []float64) (envs.Transition, error) {
	a, err := discreteAction(AcrobotID, 3, action)
	if err != nil {
		return envs.Transition{}, err
	}
	e.state = e.p.Next(e.state, AcrobotTorques[a])
	obs, cos1 := e.observe()
	done := e.p.tipHeight(cos1, e.state) > e.p.TargetHeight()
	reward := -1.0
	if done {
		reward = 0
	}
	return envs.Transition{Obs: obs, Reward: reward, Terminated: done, Info: envs.Info{Success: done}}, nil
}

// observe fills the observation and returns cos θ1 too, for the termination test.
func (e *Acrobot) observe() ([]float64, float64) {
	s := &e.state
	sin1, cos1 := math.Sincos(s[0])
	sin2, cos2 := math.Sincos(s[1])
	e.obs[0], e.obs[1], e.obs[2], e.obs[3] = f32(cos1), f32(sin1), f32(cos2), f32(sin2)
	e.obs[4], e.obs[5] = f32(s[2]), f32(s[3])
	return e.obs, cos1
}

// State returns (θ1, θ2, θ̇1, θ̇2).
func (e *Acrobot) State() []float64 { s := e.state; return s[:] }

// SetState sets (θ1, θ2, θ̇1, θ̇2); the speeds must be within the limits.
func (e *Acrobot) SetState(state []float64) error {
	if err := checkState(AcrobotID, state, "theta1", "theta2", "dtheta1", "dtheta2"); err != nil {
		return err
	}
	if err := checkRange(AcrobotID, "dtheta1", state[2], -e.p.MaxVel1, e.p.MaxVel1); err != nil {
		return err
	}
	if err := checkRange(AcrobotID, "dtheta2", state[3], -e.p.MaxVel2, e.p.MaxVel2); err != nil {
		return err
	}
	copy(e.state[:], state)
	return nil
}
