package pretrain

import (
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/policy"
)

// ModelConfig fits the head to the task's actions: categorical (the default) on
// continuous actions becomes deterministic; a continuous head on discrete actions is
// an error that names the head and the task.
func TestModelConfigHead(t *testing.T) {
	task := func(id string) envs.Task {
		ts, err := envs.ResolveTasks(id)
		if err != nil {
			t.Fatal(err)
		}
		return ts[0]
	}
	grid, pend := task("gridworld/heldout-04"), task("pendulum/heldout-00")
	for _, c := range []struct {
		task            envs.Task
		head, want, err string
	}{
		{grid, policy.HeadCategorical, policy.HeadCategorical, ""},
		{grid, policy.HeadGaussian, "", `model.head = "gaussian" needs continuous actions; task gridworld/heldout-04 has 3 discrete actions`},
		{grid, policy.HeadDeterministic, "", `model.head = "deterministic" needs continuous actions`},
		{grid, "categorcal", "", `head = "categorcal", want "categorical"`},
		{pend, policy.HeadCategorical, policy.HeadDeterministic, ""},
		{pend, policy.HeadGaussian, policy.HeadGaussian, ""},
		{pend, policy.HeadDeterministic, policy.HeadDeterministic, ""},
	} {
		cfg := policy.DefaultConfig(1, policy.ActionSpace{Discrete: 2})
		cfg.Head = c.head
		got, err := ModelConfig(cfg, c.task)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s with head %s: error %v, want one containing %q", c.task.ID, c.head, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s with head %s: %v", c.task.ID, c.head, err)
		case c.err == "" && got.Head != c.want:
			t.Errorf("%s with head %s: head %s, want %s", c.task.ID, c.head, got.Head, c.want)
		}
	}
}
