package agents

import (
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/policy"
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
