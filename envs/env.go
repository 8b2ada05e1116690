package envs

import "errors"

// NoSeed asks Reset to continue the environment's current random stream instead of
// reseeding it, like Gymnasium's reset(seed=None). Real seeds are non-negative.
const NoSeed int64 = -1

// Env is one environment with Gymnasium semantics.
//
// Reset starts an episode. A non-negative seed reseeds the environment's random
// source, so the same seed always gives the same first observation; NoSeed keeps
// drawing from the current stream. An environment that was never seeded behaves as
// if it had been reset with seed 0 on first use.
//
// Step advances the episode by one action. Actions are always float64 slices: a
// Discrete action is a one-element slice holding an integer value; a Box action has
// the space's shape, flattened row-major. Step returns an error, never panics, for an
// action of the wrong length or type, for NaN, and for a step after the episode has
// ended (terminated or truncated) without a Reset; actions outside a Box's bounds are
// clipped where Gymnasium clips and rejected where Gymnasium rejects.
//
// Ownership: the observation slices returned by Reset and Step belong to the
// environment and are valid until the next call to Reset or Step. Callers that keep
// an observation must copy it. This is what lets Step run without allocating.
type Env interface {
	ObservationSpace() Space
	ActionSpace() Space
	Reset(seed int64) (obs []float64, info Info, err error)
	Step(action []float64) (Transition, error)
}

// Transition is what Step returns: Gymnasium's (obs, reward, terminated, truncated,
// info) tuple.
type Transition struct {
	// Obs is the observation after the step; owned by the environment (see Env).
	Obs []float64
	// Reward is the scalar reward for this step.
	Reward float64
	// Terminated reports that the episode reached a terminal state of the MDP
	// (goal, failure, lava). Value bootstrapping must stop here.
	Terminated bool
	// Truncated reports that the episode was cut short by something outside the MDP,
	// usually the time limit. The state is not terminal.
	Truncated bool
	// Info carries the extra, typed facts Gymnasium puts in its info dict.
	Info Info
}

// Done reports whether the episode is over for either reason.
func (t Transition) Done() bool { return t.Terminated || t.Truncated }

// Info holds the per-step facts that environments report beyond the tuple. It is a
// struct, not a map, so that stepping does not allocate.
type Info struct {
	// Success is true on the step where the task was accomplished (goal reached,
	// pole balanced to the limit). Environments without a notion of success leave
	// it false and report success through their reward threshold instead.
	Success bool
	// Elapsed is the number of steps taken in this episode so far, as counted by the
	// time limit.
	Elapsed int
}

// Stateful is implemented by environments whose full internal state can be read and
// set, so that tests and experts can start them anywhere and renderers can draw them.
// State returns a fresh copy; SetState validates the length and values and returns an
// error naming the problem.
type Stateful interface {
	State() []float64
	SetState(state []float64) error
}

// Unwrapper is implemented by wrappers (like the time limit) so that callers can reach
// the environment inside, for example to type-assert a concrete environment.
type Unwrapper interface {
	Unwrap() Env
}

// Unwrap follows Unwrapper until it reaches the innermost environment.
func Unwrap(env Env) Env {
	for {
		u, ok := env.(Unwrapper)
		if !ok {
			return env
		}
		env = u.Unwrap()
	}
}

// As finds the first environment in env's wrapper chain that has type T, in the
// spirit of errors.As.
func As[T any](env Env) (T, bool) {
	for {
		if t, ok := env.(T); ok {
			return t, true
		}
		u, ok := env.(Unwrapper)
		if !ok {
			var zero T
			return zero, false
		}
		env = u.Unwrap()
	}
}

// ErrEpisodeOver is returned (wrapped) by Step after the episode has terminated or
// been truncated, until the next Reset.
var ErrEpisodeOver = errors.New("episode is over: call Reset before Step")
