package replay

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
)

// Episode is one recorded episode: what a scripted expert, a data-collection run or
// an evaluation produced. Datasets and evaluation recordings ("agent replays") use the
// same type and file format, so anything recorded can be trained on or rendered.
//
// Arrays are flat and row-major so that a dataset of millions of steps is a handful of
// large slices rather than millions of small ones.
type Episode struct {
	// EnvID is the registered environment id, e.g. "CartPole-v1".
	EnvID string
	// Options are the environment options of the task variant (physics, layout seed).
	Options envs.Options
	// TaskID names the task within its family (envs.Task.ID); may be empty.
	TaskID string
	// Seed is the seed passed to Reset at the start of the episode; envs.NoSeed when
	// the environment continued its random stream (an automatic reset).
	Seed int64
	// Source says what chose the actions, e.g. "expert noise=0.25" or a checkpoint
	// name, so that mixed datasets can be analysed by origin; may be empty.
	Source string

	// ObsDim and ActDim are the flattened observation and action sizes.
	ObsDim, ActDim int
	// Observations holds Len()+1 rows of ObsDim: the observation before each step and
	// the final observation after the last step.
	Observations []float32
	// Actions holds Len() rows of ActDim (a discrete action is one integer value).
	Actions []float32
	// Rewards holds Len() rewards.
	Rewards []float32
	// Terminated and Truncated describe how the episode ended (both false when it was
	// cut off by the recorder, e.g. at the end of a collection budget).
	Terminated, Truncated bool
	// Success reports that the environment signalled success (envs.Info.Success) on
	// some step or, for environments without that notion, that the return reached
	// the registered reward threshold (see Recorder), so that summaries and
	// evaluations report success rates without re-deriving them.
	Success bool

	// File and Index say where the episode was read from: its episode file and its
	// position in it (File is "" for an episode built in memory), so that an error
	// about the episode, however much later, can name both. They are not stored.
	File  string
	Index int

	// StateDim and States optionally hold the environment's full internal state
	// (envs.Stateful) before each step and after the last one (Len()+1 rows), so that
	// renderers can redraw exactly what happened. StateDim is 0 when not recorded.
	StateDim int
	States   []float64
}

// Len is the number of steps (actions taken) in the episode.
func (e *Episode) Len() int { return len(e.Rewards) }

// Return is the undiscounted sum of rewards.
func (e *Episode) Return() float64 {
	var sum float64
	for _, r := range e.Rewards {
		sum += float64(r)
	}
	return sum
}

// Obs returns the observation at step t (0 ≤ t ≤ Len()), aliasing the episode's
// storage.
func (e *Episode) Obs(t int) []float32 { return e.Observations[t*e.ObsDim : (t+1)*e.ObsDim] }

// Action returns the action taken at step t, aliasing the episode's storage.
func (e *Episode) Action(t int) []float32 { return e.Actions[t*e.ActDim : (t+1)*e.ActDim] }

// State returns the recorded environment state at step t, or nil when states were
// not recorded.
func (e *Episode) State(t int) []float64 {
	if e.StateDim == 0 {
		return nil
	}
	return e.States[t*e.StateDim : (t+1)*e.StateDim]
}

// Where names the episode for error messages: "file.evds episode 3", or "episode
// (task a/b, seed 7)" for an episode built in memory.
func (e *Episode) Where() string {
	if e.File != "" {
		return fmt.Sprintf("%s episode %d", e.File, e.Index)
	}
	return fmt.Sprintf("episode (task %s, seed %d)", e.TaskID, e.Seed)
}

// bytes is the memory the episode's arrays take.
func (e *Episode) bytes() int {
	return 4*(len(e.Observations)+len(e.Actions)+len(e.Rewards)) + 8*len(e.States)
}

// Validate checks that the arrays agree with the dimensions and that observations,
// actions, rewards and states are finite, so that a corrupted file or a buggy recorder is
// caught with a clear error instead of an index panic or a NaN loss later.
func (e *Episode) Validate() error {
	n := e.Len()
	switch {
	case e.EnvID == "":
		return fmt.Errorf("episode has no env id")
	case e.ObsDim <= 0 || e.ActDim <= 0:
		return fmt.Errorf("episode %s: obs dim %d and action dim %d must be positive", e.EnvID, e.ObsDim, e.ActDim)
	case len(e.Observations) != (n+1)*e.ObsDim:
		return fmt.Errorf("episode %s: %d observation values, want (%d steps + 1) × %d", e.EnvID, len(e.Observations), n, e.ObsDim)
	case len(e.Actions) != n*e.ActDim:
		return fmt.Errorf("episode %s: %d action values, want %d steps × %d", e.EnvID, len(e.Actions), n, e.ActDim)
	case e.StateDim < 0 || (e.StateDim > 0 && len(e.States) != (n+1)*e.StateDim) || (e.StateDim == 0 && len(e.States) != 0):
		return fmt.Errorf("episode %s: %d state values, want (%d steps + 1) × %d", e.EnvID, len(e.States), n, e.StateDim)
	}
	for _, a := range []struct {
		name string
		v    []float32
		dim  int
	}{{"observation", e.Observations, e.ObsDim}, {"action", e.Actions, e.ActDim}, {"reward", e.Rewards, 1}} {
		for i, v := range a.v {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("episode %s: %s at step %d (element %d) is %v; want a finite number", e.EnvID, a.name, i/a.dim, i%a.dim, v)
			}
		}
	}
	// Renderers compute drawing coordinates from the states.
	for i, v := range e.States {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("episode %s: state at step %d (element %d) is %v; want a finite number", e.EnvID, i/e.StateDim, i%e.StateDim, v)
		}
	}
	return nil
}
