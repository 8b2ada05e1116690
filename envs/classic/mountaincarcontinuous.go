package classic

import (
	"math"

	"github.com/evarl/evarl/envs"
)

// MountainCarContinuousID is the registered id of the continuous mountain-car task.
const MountainCarContinuousID = "MountainCarContinuous-v0"

// DefaultMountainCarContinuousParams returns Gymnasium's MountainCarContinuous-v0
// constants (Force is the "power" that multiplies the action).
func DefaultMountainCarContinuousParams() MountainCarParams {
	p := DefaultMountainCarParams()
	p.Force = 0.0015
	p.GoalPosition = 0.45
	return p
}

// NextContinuous is one MountainCarContinuous-v0 step under action a (as the float32
// Gymnasium receives). Gymnasium keeps this state in float32 after the first step and
// NumPy 2 then does part of the arithmetic in float32; state32 says which case
// applies, and the result is exact to Gymnasium in both. It returns the new state
// (float32 values) and whether the goal was reached.
func (p *MountainCarParams) NextContinuous(s [2]float64, a float32, state32 bool) ([2]float64, bool) {
	// force = min(max(action[0], -1.0), 1.0): a clipped force is the Python float ±1,
	// so force·power stays float64; otherwise it is float32·float32.
	clipped := a < -1 || a > 1
	var force64 float64
	switch {
	case a < -1:
		force64 = -1
	case a > 1:
		force64 = 1
	}
	if !state32 {
		pos, vel := s[0], s[1]
		slope := p.Gravity * math.Cos(3*pos)
		if clipped {
			vel += force64*p.Force - slope
		} else {
			vel += float64(a*float32(p.Force) - float32(slope))
		}
		vel = min(max(vel, -p.MaxSpeed), p.MaxSpeed)
		pos += vel
		pos = min(max(pos, p.MinPosition), p.MaxPosition)
		if pos == p.MinPosition && vel < 0 {
			vel = 0
		}
		return [2]float64{f32(pos), f32(vel)}, pos >= p.GoalPosition && vel >= p.GoalVelocity
	}
	pos, vel := float32(s[0]), float32(s[1])
	slope := p.Gravity * math.Cos(float64(3*pos))
	if clipped {
		vel += float32(force64*p.Force - slope)
	} else {
		vel += a*float32(p.Force) - float32(slope)
	}
	maxSpeed := float32(p.MaxSpeed)
	vel = min(max(vel, -maxSpeed), maxSpeed)
	pos += vel
	minPos := float32(p.MinPosition)
	pos = min(max(pos, minPos), float32(p.MaxPosition))
	if pos == minPos && vel < 0 {
		vel = 0
	}
	return [2]float64{float64(pos), float64(vel)}, pos >= float32(p.GoalPosition) && vel >= float32(p.GoalVelocity)
}

// ContinuousReward is Gymnasium's reward: 100 at the goal minus 0.1·a², with a the
// unclipped float32 action.
func ContinuousReward(a float32, atGoal bool) float64 {
	r := 0.0
	if atGoal {
		r = 100
	}
	return r - float64(a)*float64(a)*0.1
}

// MountainCarContinuous is Gymnasium's MountainCarContinuous-v0 with configurable
// power and gravity.
type MountainCarContinuous struct {
	p       MountainCarParams
	seeder  seeder
	state   [2]float64
	state32 bool // the state is float32, as after Gymnasium's first step
	obs     []float64
	obsSp   envs.Box
	actSp   envs.Box
}

var (
	_ envs.Env      = (*MountainCarContinuous)(nil)
	_ envs.Stateful = (*MountainCarContinuous)(nil)
)

// NewMountainCarContinuous builds the continuous mountain car from options power and
// gravity.
func NewMountainCarContinuous(opts envs.Options) (*MountainCarContinuous, error) {
	p := DefaultMountainCarContinuousParams()
	r := envs.NewOptionReader(MountainCarContinuousID, opts)
	p.Force = r.Float("power", p.Force, envs.Positive)
	p.Gravity = r.Float("gravity", p.Gravity, envs.Positive)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return &MountainCarContinuous{
		p:     p,
		obs:   make([]float64, 2),
		obsSp: float32Box([]float64{p.MinPosition, -p.MaxSpeed}, []float64{p.MaxPosition, p.MaxSpeed}),
		actSp: envs.NewBox([]float64{-1}, []float64{1}),
	}, nil
}

// Params returns the variant's physics.
func (e *MountainCarContinuous) Params() MountainCarParams { return e.p }

// ObservationSpace is Box(2): position and velocity.
func (e *MountainCarContinuous) ObservationSpace() envs.Space { return e.obsSp }

// ActionSpace is Box(−1, 1, (1,)): the engine's force; values outside are clipped.
func (e *MountainCarContinuous) ActionSpace() envs.Space { return e.actSp }

// Reset places the car at rest at a uniform position in [−0.6, −0.4].
func (e *MountainCarContinuous) Reset(seed int64) ([]float64, envs.Info, error) {
	if err := e.seeder.reseed(MountainCarContinuousID, seed); err != nil {
		return nil, envs.Info{}, err
	}
	e.state = [2]float64{e.seeder.rng.Uniform(-0.6, -0.4), 0}
	e.state32 = false
	return e.observe(), envs.Info{}, nil
}

// Step applies the (clipped) force for one step.
func (e *MountainCarContinuous) Step(action []float64) (envs.Transition, error) {
	a, err := continuousAction(MountainCarContinuousID, e.actSp, action)
	if err != nil {
		return envs.Transition{}, err
	}
	var done bool
	e.state, done = e.p.NextContinuous(e.state, a, e.state32)
	e.state32 = true
	return envs.Transition{Obs: e.observe(), Reward: ContinuousReward(a, done), Terminated: done, Info: envs.Info{Success: done}}, nil
}

func (e *MountainCarContinuous) observe() []float64 {
	e.obs[0], e.obs[1] = f32(e.state[0]), f32(e.state[1])
	return e.obs
}

// State returns (position, velocity).
func (e *MountainCarContinuous) State() []float64 { return []float64{e.state[0], e.state[1]} }

// SetState sets (position, velocity). A state whose values are both float32 values
// is treated as Gymnasium's float32 state (as after a step); any other as the float64
// state Reset makes.
func (e *MountainCarContinuous) SetState(state []float64) error {
	if err := mountainCarState(MountainCarContinuousID, e.obsSp, state); err != nil {
		return err
	}
	e.state = [2]float64{state[0], state[1]}
	e.state32 = f32(state[0]) == state[0] && f32(state[1]) == state[1]
	return nil
}
