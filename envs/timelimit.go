package envs

import "fmt"

// TimeLimit truncates episodes after MaxSteps steps, like Gymnasium's TimeLimit
// wrapper, and enforces the order of calls: Step before the first Reset, or after the
// episode ended, returns an error wrapping ErrEpisodeOver.
type TimeLimit struct {
	env      Env
	maxSteps int
	elapsed  int
	running  bool
}

// Horizoned is implemented by environments whose reward depends on the time limit,
// such as the gridworld's 1 − 0.9·t/T (Minigrid's reward). NewTimeLimit passes them
// the limit it enforces, so that the reward and the truncation always agree, also
// when max_episode_steps overrides the registered limit.
type Horizoned interface {
	SetHorizon(maxSteps int)
}

// NewTimeLimit wraps env so that it truncates after maxSteps steps.
func NewTimeLimit(env Env, maxSteps int) *TimeLimit {
	if h, ok := As[Horizoned](env); ok {
		h.SetHorizon(maxSteps)
	}
	return &TimeLimit{env: env, maxSteps: maxSteps}
}

// MaxSteps is the episode length at which Step truncates.
func (t *TimeLimit) MaxSteps() int { return t.maxSteps }

// Unwrap returns the wrapped environment.
func (t *TimeLimit) Unwrap() Env { return t.env }

// ObservationSpace is the wrapped environment's.
func (t *TimeLimit) ObservationSpace() Space { return t.env.ObservationSpace() }

// ActionSpace is the wrapped environment's.
func (t *TimeLimit) ActionSpace() Space { return t.env.ActionSpace() }

// Reset starts a new episode and the step count.
func (t *TimeLimit) Reset(seed int64) ([]float64, Info, error) {
	obs, info, err := t.env.Reset(seed)
	if err != nil {
		return nil, info, err
	}
	t.elapsed = 0
	t.running = true
	info.Elapsed = 0
	return obs, info, nil
}

// Step steps the wrapped environment and sets Truncated once MaxSteps is reached.
func (t *TimeLimit) Step(action []float64) (Transition, error) {
	if !t.running {
		return Transition{}, fmt.Errorf("envs: step %d: %w", t.elapsed, ErrEpisodeOver)
	}
	tr, err := t.env.Step(action)
	if err != nil {
		return tr, err
	}
	t.elapsed++
	if t.elapsed >= t.maxSteps {
		tr.Truncated = true
	}
	tr.Info.Elapsed = t.elapsed
	if tr.Terminated || tr.Truncated {
		t.running = false
	}
	return tr, nil
}
