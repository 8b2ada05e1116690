// Package exptest sets up the tiny experiment that the tests of package experiment
// and of its backends run: a tiny base policy, a dataset of two small gridworld tasks
// (registered here as the task set exptest/suite) and an experiment config over
// them, small enough that a run takes about a second.
package exptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all" // GridWorld-v0
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// Suite is the task set of the tiny experiment: two 7×7 gridworlds with a 20-step
// limit.
const Suite = "exptest/suite"

func init() {
	opts := func(seed int) envs.Options {
		return envs.Options{"size": 7, "view": 3, "layout": "rooms", "task_seed": seed, "max_episode_steps": 20, "random_start": true}
	}
	envs.RegisterTaskSet(envs.TaskSet{Family: "exptest", Name: "suite", Tasks: []envs.Task{
		{ID: "exptest/suite-00", EnvID: "GridWorld-v0", Options: opts(1)},
		{ID: "exptest/suite-01", EnvID: "GridWorld-v0", Options: opts(2)},
	}})
}

// Setup writes a tiny base policy (dir/base) and a dataset of the suite
// (dir/data/mixed.evds) and returns an experiment config over them with its
// runs_dir and out_dir in dir: two tasks × two variants (lora, eva) × seeds 0 and 1,
// offline, 6 updates with validation every 3.
func Setup(t testing.TB, dir string) string {
	t.Helper()
	set, err := envs.LookupTaskSet(Suite)
	if err != nil {
		t.Fatal(err)
	}
	env, err := set.Tasks[0].Make()
	if err != nil {
		t.Fatal(err)
	}
	mc := policy.DefaultConfig(env.ObservationSpace().Dim(), policy.ActionSpace{Discrete: 3})
	mc.EmbedDim, mc.Layers, mc.Heads, mc.Context, mc.MaxEpisodeLen = 16, 1, 2, 4, 32
	m, err := policy.New(mc, rand.New(rand.NewPCG(1, 1)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(filepath.Join(dir, "base")); err != nil {
		t.Fatal(err)
	}
	cc := collect.DefaultConfig()
	cc.TaskSet, cc.OutDir, cc.Datasets = Suite, filepath.Join(dir, "data"), []collect.Dataset{{Name: "mixed", Episodes: 6, Noise: []float64{0, 0.5}}}
	if _, err := collect.Collect(context.Background(), cc, collect.Options{}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`out_dir: %[1]s/out
runs_dir: %[1]s/runs
seeds: [0, 1]
modes: [offline]
workers: 1
stats: {reps: 200}
variants:
  - {name: lora, method: lora}
  - {name: eva, method: eva, rho: 1}
families:
  - name: grid
    finetune:
      base: %[1]s/base
      tasks: %[2]s
      datasets: [%[1]s/data/mixed.evds]
      lora: {r: 2, alpha: 4, dropout: 0, target_modules: [attention-mlp]}
      eva: {max_batches: 10, accept_unconverged: true, rollout_episodes: 2, rollout_max_steps: 10, batch: 4, num_envs: 2}
      train: {steps: 6, batch_size: 4, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 0}}
      eval: {every: 3, episodes: 2, test_episodes: 3, num_envs: 3}
      log_every: 3
`, dir, Suite)
}

// WriteFile writes text to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
