package replay

import (
	"reflect"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
)

// counterEnv adds its action to a position and rewards the new position; it
// terminates with success at position 3. It reuses its observation slice, as real
// environments may, so a recorder that forgets to copy records garbage.
type counterEnv struct {
	pos, steps float64
	obs        []float64
}

func (e *counterEnv) ObservationSpace() envs.Space {
	return envs.NewBox([]float64{-9, 0}, []float64{9, 99})
}
func (e *counterEnv) ActionSpace() envs.Space { return envs.Discrete{N: 2} }
func (e *counterEnv) Reset(seed int64) ([]float64, envs.Info, error) {
	e.pos, e.steps = float64(seed), 0
	e.obs = append(e.obs[:0], e.pos, e.steps)
	return e.obs, envs.Info{}, nil
}
func (e *counterEnv) Step(a []float64) (envs.Transition, error) {
	e.pos += a[0]
	e.steps++
	e.obs[0], e.obs[1] = e.pos, e.steps
	done := e.pos >= 3
	return envs.Transition{Obs: e.obs, Reward: e.pos, Terminated: done, Info: envs.Info{Success: done}}, nil
}
func (e *counterEnv) State() []float64 { return []float64{e.pos, e.steps, -e.pos} }
func (e *counterEnv) SetState(s []float64) error {
	e.pos, e.steps = s[0], s[1]
	return nil
}

func runRecorded(t *testing.T, env envs.Env, rec *Recorder, seed int64, actions ...float64) *Episode {
	t.Helper()
	obs, _, err := env.Reset(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Begin(seed, obs); err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		tr, err := env.Step([]float64{a})
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Step([]float64{a}, tr); err != nil {
			t.Fatal(err)
		}
		if tr.Done() {
			break
		}
	}
	return rec.End()
}

func TestRecorder(t *testing.T) {
	env := envs.NewTimeLimit(&counterEnv{}, 3)
	task := envs.Task{ID: "counter/a", EnvID: "Counter-v0", Options: envs.Options{"goal": 3.0}}
	rec := NewRecorder(env, task)

	got := runRecorded(t, env, rec, 1, 1, 0, 1) // positions 2, 2, 3: terminates at the third step
	want := &Episode{
		EnvID: "Counter-v0", TaskID: "counter/a", Options: envs.Options{"goal": 3.0}, Seed: 1,
		ObsDim: 2, ActDim: 1,
		Observations: []float32{1, 0, 2, 1, 2, 2, 3, 3},
		Actions:      []float32{1, 0, 1},
		Rewards:      []float32{2, 2, 3},
		Terminated:   true, Truncated: true, Success: true, // the time limit also hit 3 steps
		StateDim: 3,
		States:   []float64{1, 0, -1, 2, 1, -2, 2, 2, -2, 3, 3, -3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	got = runRecorded(t, env, rec, 0, 0, 0, 0) // never reaches 3: truncated by the limit
	if got.Len() != 3 || got.Terminated || !got.Truncated || got.Success || got.Return() != 0 {
		t.Errorf("truncated episode: %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	got.Options["goal"] = 7.0
	if task.Options["goal"] != 3.0 {
		t.Error("episode options alias the task's")
	}

	rec.RecordStates = false
	rec.Source = "expert noise=0"
	got = runRecorded(t, env, rec, 2, 1)
	if got.StateDim != 0 || got.States != nil || got.Source != "expert noise=0" || got.Validate() != nil {
		t.Errorf("without states: state dim %d, %d states, source %q", got.StateDim, len(got.States), got.Source)
	}
}

func TestRecorderErrors(t *testing.T) {
	env := &counterEnv{}
	rec := NewRecorder(env, envs.Task{EnvID: "Counter-v0"})
	tr := envs.Transition{Obs: []float64{0, 0}}
	if err := rec.Step([]float64{0}, tr); err == nil || !strings.Contains(err.Error(), "before Begin") {
		t.Errorf("Step before Begin: %v", err)
	}
	if rec.End() != nil {
		t.Error("End before Begin returned an episode")
	}
	if err := rec.Begin(0, []float64{1}); err == nil || !strings.Contains(err.Error(), "has 1 values, the space has 2") {
		t.Errorf("Begin with a short observation: %v", err)
	}
	rec.Begin(0, []float64{0, 0})
	if err := rec.Step([]float64{0, 1}, tr); err == nil || !strings.Contains(err.Error(), "action has 2 values") {
		t.Errorf("Step with a long action: %v", err)
	}
	rec.Step([]float64{0}, envs.Transition{Obs: []float64{0, 1}, Terminated: true})
	if !rec.Done() || rec.Len() != 1 {
		t.Errorf("Done %v Len %d after a terminal step", rec.Done(), rec.Len())
	}
	if err := rec.Step([]float64{0}, tr); err == nil || !strings.Contains(err.Error(), "after the episode ended") {
		t.Errorf("Step after the end: %v", err)
	}
}

func init() {
	envs.Register(envs.Spec{
		ID: "ReplayCounter-v0", Family: "replaytest", MaxEpisodeSteps: 3, RewardThreshold: 4,
		New: func(envs.Options) (envs.Env, error) { return &counterEnv{}, nil },
	})
}

func TestRecorderRewardThreshold(t *testing.T) {
	env, err := envs.Make("ReplayCounter-v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(env, envs.Task{EnvID: "ReplayCounter-v0"})
	// Positions stay below 3, so the env never reports success; returns are 3 and 6
	// against the registered threshold 4.
	if ep := runRecorded(t, env, rec, 1, 0, 0, 0); ep.Success || ep.Return() != 3 {
		t.Errorf("return %v below the threshold: success %v", ep.Return(), ep.Success)
	}
	if ep := runRecorded(t, env, rec, 2, 0, 0, 0); !ep.Success || ep.Return() != 6 {
		t.Errorf("return %v at or above the threshold: success %v", ep.Return(), ep.Success)
	}
}
