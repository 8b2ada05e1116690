package classic

import (
	"math"

	"github.com/evarl/evarl/envs"
)

// MountainCarID is the registered id of the discrete mountain-car task.
const MountainCarID = "MountainCar-v0"

// MountainCarParams are the constants of a mountain-car variant (discrete or
// continuous). Defaults are Gymnasium's (mountain_car.py, continuous_mountain_car.py).
type MountainCarParams struct {
	// Force is the acceleration of a push: option "force" (0.001) for MountainCar-v0,
	// option "power" (0.0015, times the action) for MountainCarContinuous-v0.
	Force float64
	// Gravity scales the slope's pull, −Gravity·cos(3x): option "gravity" (0.0025).
	Gravity float64
	// MinPosition, MaxPosition bound the track; MaxSpeed bounds |velocity|.
	MinPosition, MaxPosition, MaxSpeed float64
	// GoalPosition and GoalVelocity end the episode when both are reached
	// (0.5 and 0 for the discrete task, 0.45 and 0 for the continuous one).
	GoalPosition, GoalVelocity float64
}

// DefaultMountainCarParams returns Gymnasium's MountainCar-v0 constants.
func DefaultMountainCarParams() MountainCarParams {
	return MountainCarParams{
		Force: 0.001, Gravity: 0.0025, MinPosition: -1.2, MaxPosition: 0.6, MaxSpeed: 0.07,
		GoalPosition: 0.5, GoalVelocity: 0,
	}
}

// Height is the track's height at position x, sin(3x), as Gymnasium draws it.
func (p *MountainCarParams) Height(x float64) float64 { return math.Sin(3 * x) }

// NextDiscrete is one MountainCar-v0 step from (position, velocity) under action
// 0 (push left), 1 (no push) or 2 (push right), in Gymnasium's operation order.
func (p *MountainCarParams) NextDiscrete(s [2]float64, action int) [2]float64 {
	pos, vel := s[0], s[1]
	vel += float64(action-1)*p.Force + math.Cos(3*pos)*(-p.Gravity)
	vel = min(max(vel, -p.MaxSpeed), p.MaxSpeed)
	pos += vel
	pos = min(max(pos, p.MinPosition), p.MaxPosition)
	if pos == p.MinPosition && vel < 0 {
		vel = 0
	}
	return [2]float64{pos, vel}
}

// AtGoal reports Gymnasium's termination test.
func (p *MountainCarParams) AtGoal(s [2]float64) bool {
	return s[0] >= p.GoalPosition && s[1] >= p.GoalVelocity
}

// MountainCar is Gymnasium's MountainCar-v0 with configurable force and gravity:
// reward −1 per step until the car reaches the flag.
type MountainCar struct {
	p      MountainCarParams
	seeder seeder
	state  [2]float64
	obs    []float64
	obsSp  envs.Box
}

var (
	_ envs.Env      = (*MountainCar)(nil)
	_ envs.Stateful = (*MountainCar)(nil)
)

// NewMountainCar builds the discrete mountain car from options force and gravity.
func NewMountainCar(opts envs.Options) (*MountainCar, error) {
	p := DefaultMountainCarParams()
	r := envs.NewOptionReader(MountainCarID, opts)
	p.Force = r.Float("force", p.Force, envs.Positive)
	p.Gravity = r.Float("gravity", p.Gravity, envs.Positive)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	sp := float32Box([]float64{p.MinPosition, -p.MaxSpeed}, []float64{p.MaxPosition, p.MaxSpeed})
	return &MountainCar{p: p, obs: make([]float64, 2), obsSp: sp}, nil
}

// Params returns the variant's physics.
func (e *MountainCar) Params() MountainCarParams { return e.p }

// ObservationSpace is Box(2): position and velocity.
func (e *MountainCar) ObservationSpace() envs.Space { return e.obsSp }

// ActionSpace is Discrete(3): push left, no push, push right.
func (e *MountainCar) ActionSpace() envs.Space { return envs.Discrete{N: 3} }

// Reset places the car at rest at a uniform position in [−0.6, −0.4].
func (e *MountainCar) Reset(seed int64) ([]float64, envs.Info, error) {
	if err := e.seeder.reseed(MountainCarID, seed); err != nil {
		return nil, envs.Info{}, err
	}
	e.state = [2]float64{e.seeder.rng.Uniform(-0.6, -0.4), 0}
	return e.observe(), envs.Info{}, nil
}

// Step applies the action for one step.
func (e *MountainCar) Step(action []float64) (envs.Transition, error) {
	a, err := discreteAction(MountainCarID, 3, action)
	if err != nil {
		return envs.Transition{}, err
	}
	e.state = e.p.NextDiscrete(e.state, a)
	done := e.p.AtGoal(e.state)
	return envs.Transition{Obs: e.observe(), Reward: -1, Terminated: done, Info: envs.Info{Success: done}}, nil
}

func (e *MountainCar) observe() []float64 {
	e.obs[0], e.obs[1] = f32(e.state[0]), f32(e.state[1])
	return e.obs
}

// State returns (position, velocity).
func (e *MountainCar) State() []float64 { return []float64{e.state[0], e.state[1]} }

// SetState sets (position, velocity), which must lie on the track and under the
// speed limit.
func (e *MountainCar) SetState(state []float64) error {
	if err := mountainCarState(MountainCarID, e.obsSp, state); err != nil {
		return err
	}
	e.state = [2]float64{state[0], state[1]}
	return nil
}

// mountainCarState validates a (position, velocity) state against the observation
// bounds (which are the float32 bounds Gymnasium uses).
func mountainCarState(env string, sp envs.Box, state []float64) error {
	if err := checkState(env, state, "position", "velocity"); err != nil {
		return err
	}
	if err := checkRange(env, "position", state[0], sp.Low[0], sp.High[0]); err != nil {
		return err
	}
	return checkRange(env, "velocity", state[1], sp.Low[1], sp.High[1])
}
