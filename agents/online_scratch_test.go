package agents

import (
	"context"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
)

func TestScratchPendulum(t *testing.T) {
	task := envs.Task{ID: "p", EnvID: "Pendulum-v1", Options: envs.Options{"max_episode_steps": 40}}
	eval := func(m *policy.Model) EvalResult {
		cfg := EvalConfig{Episodes: 40, NumEnvs: 8, Targets: []float64{0}, Seed: 1 << 40, Greedy: true}
		res, err := Evaluate(context.Background(), m, []envs.Task{task}, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	rng, _ := NewRand(7)
	m := stochasticModel(t, task, 32, 8, rng)
	cfg := smallOnline(30, 75)
	cfg.EpisodesPerIteration, cfg.NumEnvs = 8, 4
	cfg.ExploreScale, cfg.ExploreReturn, cfg.EvalTarget = 0, 0, 0
	o, err := NewOnline(m, task, nil, cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	before := eval(m)
	for !o.Done() {
		st, err := o.Iterate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Iteration%3 == 2 {
			t.Logf("iteration %d: exploration return %.3f, loss %.3f, entropy %.3f, λ %.4f", st.Iteration, mean(st.ExploreReturns), st.Loss, st.Entropy, st.Temperature)
			t.Logf("  eval %.1f", eval(m).Mean)
		}
	}
	after := eval(m)
	t.Logf("mean return %.3f → %.3f", before.Mean, after.Mean)
}
