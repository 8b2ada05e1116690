package replay

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
)

// Recorder turns the calls made on an environment into an Episode. It copies every
// observation (the environment owns its slices) and, when the environment (or one it
// wraps) implements envs.Stateful, records the full state before each step and after
// the last one, so that renderers can redraw the episode exactly.
//
// Use it beside the environment:
//
//	obs, _, err := env.Reset(seed)
//	rec.Begin(seed, obs)
//	for {
//		tr, err := env.Step(action)
//		rec.Step(action, tr)
//		if tr.Done() { break }
//	}
//	ep := rec.End()
//
// A Recorder is reused across episodes; each End hands over a new Episode.
//
// Success: an episode is successful when the environment reported Info.Success on
// some step, or, for environments without that notion, when its return reached the
// registered reward threshold (envs.Spec.RewardThreshold), as `rl-train demo` counts it.
type Recorder struct {
	// Source is copied into every episode (Episode.Source).
	Source string
	// RecordStates says whether states are recorded; NewRecorder sets it when the
	// environment is envs.Stateful. Clear it when the state after the last step
	// cannot be read at the right moment — for example through an envs.Vector, whose
	// automatic reset replaces it within Step.
	RecordStates bool

	task      envs.Task
	threshold float64 // registered reward threshold of task.EnvID, or NaN
	obsDim    int
	actDim    int
	stateful  envs.Stateful
	ep        *Episode
	done      bool
	states    bool // RecordStates as it was at Begin, for the current episode
}

// NewRecorder records episodes of env, which runs task (its id, env id and options
// are stored in every episode). Observation and action sizes come from env's spaces.
func NewRecorder(env envs.Env, task envs.Task) *Recorder {
	r := &Recorder{task: task, threshold: math.NaN(), obsDim: env.ObservationSpace().Dim(), actDim: env.ActionSpace().Dim()}
	if spec, ok := envs.Lookup(task.EnvID); ok {
		r.threshold = spec.RewardThreshold
	}
	if s, ok := envs.As[envs.Stateful](env); ok {
		r.stateful, r.RecordStates = s, true
	}
	return r
}

// Begin starts an episode after env.Reset(seed) returned obs. An unfinished episode
// is discarded.
func (r *Recorder) Begin(seed int64, obs []float64) error {
	if len(obs) != r.obsDim {
		return fmt.Errorf("replay: recorder %s: reset observation has %d values, the space has %d", r.task.EnvID, len(obs), r.obsDim)
	}
	r.ep = &Episode{
		EnvID: r.task.EnvID, TaskID: r.task.ID, Options: r.task.Options.Clone(), Seed: seed, Source: r.Source,
		ObsDim: r.obsDim, ActDim: r.actDim,
	}
	if len(r.task.Options) == 0 {
		r.ep.Options = nil
	}
	r.ep.Observations = appendObs(r.ep.Observations, obs)
	r.done = false
	r.states = r.RecordStates && r.stateful != nil
	r.recordState()
	return nil
}

// Step records that action was taken and the environment answered tr (tr.Obs is
// copied). Stepping after the episode ended, or before Begin, is an error.
func (r *Recorder) Step(action []float64, tr envs.Transition) error {
	switch {
	case r.ep == nil:
		return fmt.Errorf("replay: recorder %s: Step before Begin", r.task.EnvID)
	case r.done:
		return fmt.Errorf("replay: recorder %s: Step after the episode ended (step %d)", r.task.EnvID, r.ep.Len())
	case len(action) != r.actDim:
		return fmt.Errorf("replay: recorder %s: action has %d values, the space has %d", r.task.EnvID, len(action), r.actDim)
	case len(tr.Obs) != r.obsDim:
		return fmt.Errorf("replay: recorder %s: observation has %d values, the space has %d", r.task.EnvID, len(tr.Obs), r.obsDim)
	}
	for _, a := range action {
		r.ep.Actions = append(r.ep.Actions, float32(a))
	}
	r.ep.Rewards = append(r.ep.Rewards, float32(tr.Reward))
	r.ep.Observations = appendObs(r.ep.Observations, tr.Obs)
	r.ep.Terminated, r.ep.Truncated = tr.Terminated, tr.Truncated
	r.ep.Success = r.ep.Success || tr.Info.Success
	r.done = tr.Done()
	r.recordState()
	return nil
}

// Done reports whether the current episode has terminated or been truncated.
func (r *Recorder) Done() bool { return r.done }

// Len is the number of steps recorded in the current episode.
func (r *Recorder) Len() int {
	if r.ep == nil {
		return 0
	}
	return r.ep.Len()
}

// End returns the recorded episode and forgets it. An episode that has not ended
// (cut off by a step budget) has Terminated and Truncated false. End before Begin
// returns nil.
func (r *Recorder) End() *Episode {
	ep := r.ep
	r.ep, r.done = nil, false
	if ep != nil && !ep.Success && !math.IsNaN(r.threshold) && ep.Len() > 0 && ep.Return() >= r.threshold {
		ep.Success = true
	}
	return ep
}

func (r *Recorder) recordState() {
	if !r.states {
		return
	}
	s := r.stateful.State()
	if r.ep.StateDim == 0 {
		r.ep.StateDim = len(s)
	}
	if len(s) != r.ep.StateDim || len(s) == 0 {
		// An environment whose state size changes mid-episode cannot be replayed from
		// states; drop them rather than store something inconsistent.
		r.states = false
		r.ep.StateDim, r.ep.States = 0, nil
		return
	}
	r.ep.States = append(r.ep.States, s...)
}

func appendObs(dst []float32, obs []float64) []float32 {
	for _, v := range obs {
		dst = append(dst, float32(v))
	}
	return dst
}
