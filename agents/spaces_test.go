package agents

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

func TestCheckCompatible(t *testing.T) {
	pendulum := policy.Config{StateDim: 3, Action: policy.ActionSpace{Dim: 1, Low: []float32{-2}, High: []float32{2}}}
	cartpole := policy.Config{StateDim: 4, Action: policy.ActionSpace{Discrete: 2}}
	for _, c := range []struct {
		name    string
		cfg     policy.Config
		env     string
		opts    envs.Options
		wantErr string // "" for compatible
	}{
		{"same box", pendulum, "Pendulum-v1", nil, ""},
		{"wider box", pendulum, "Pendulum-v1", envs.Options{"max_torque": 3.0}, ""},
		{"narrower box", pendulum, "Pendulum-v1", envs.Options{"max_torque": 1.5}, "must contain"},
		{"discrete policy, box env", cartpole, "Pendulum-v1", nil, "observations of 3 values"},
		{"same discrete", cartpole, "CartPole-v1", nil, ""},
		{"box policy, discrete env", policy.Config{StateDim: 4, Action: pendulum.Action}, "CartPole-v1", nil, "action space Discrete(2)"},
	} {
		env, err := envs.Make(c.env, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = CheckCompatible(c.cfg, env, c.env)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want compatible", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.wantErr)
		}
	}
}

// A discrete action out of range is caught when the dataset is loaded, naming the
// file, the episode and the step (before, it killed training at a random step with
// "batch window 0 step 9: discrete action 5").
func TestCheckEpisodes(t *testing.T) {
	cartpole := policy.Config{StateDim: 4, Action: policy.ActionSpace{Discrete: 2}}
	ep := func(actions ...float32) *replay.Episode {
		n := len(actions)
		return &replay.Episode{EnvID: "CartPole-v1", TaskID: "cartpole/a", Seed: 7, ObsDim: 4, ActDim: 1,
			Observations: make([]float32, 4*(n+1)), Actions: actions, Rewards: make([]float32, n)}
	}
	path := filepath.Join(t.TempDir(), "data.evds")
	if err := replay.WriteFile(path, []*replay.Episode{ep(0, 1, 1), ep(1, 0, 5, 1)}, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := replay.Open(path, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckEpisodes(cartpole, ds.Episodes)
	for _, want := range []string{path + " episode 1 step 2", "discrete action 5", "0 to 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckEpisodes = %v, want it to contain %q", err, want)
		}
	}
	for _, c := range []struct {
		name string
		eps  []*replay.Episode
		want string
	}{
		{"fractional action", []*replay.Episode{ep(0, 0.5)}, "episode (task cartpole/a, seed 7) step 1: discrete action 0.5"},
		{"negative action", []*replay.Episode{ep(-1)}, "step 0: discrete action -1"},
		{"nan reward", []*replay.Episode{func() *replay.Episode { e := ep(0, 1); e.Rewards[1] = float32(math.NaN()); return e }()}, "step 1: reward NaN"},
		{"wrong sizes", []*replay.Episode{{EnvID: "Pendulum-v1", ObsDim: 3, ActDim: 1, Observations: make([]float32, 3)}}, "observations of 3 values and actions of 1, the policy expects 4 and 1"},
		{"fine", []*replay.Episode{ep(0, 1, 0)}, ""},
	} {
		err := CheckEpisodes(cartpole, c.eps)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: CheckEpisodes = %v, want %q", c.name, err, c.want)
		}
	}
}
