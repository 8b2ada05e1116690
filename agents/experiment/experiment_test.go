package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

func init() {
	opts := func(seed int) envs.Options {
		return envs.Options{"size": 7, "view": 3, "layout": "rooms", "task_seed": seed, "max_episode_steps": 20, "random_start": true}
	}
	envs.RegisterTaskSet(envs.TaskSet{Family: "exptest", Name: "suite", Tasks: []envs.Task{
		{ID: "exptest/suite-00", EnvID: "GridWorld-v0", Options: opts(1)},
		{ID: "exptest/suite-01", EnvID: "GridWorld-v0", Options: opts(2)},
	}})
}

// fixture writes a tiny base policy and a dataset of the suite, and an experiment
// config over them.
func fixture(t *testing.T) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	set, err := envs.LookupTaskSet("exptest/suite")
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
	cc.TaskSet, cc.OutDir, cc.Datasets = "exptest/suite", filepath.Join(dir, "data"), []collect.Dataset{{Name: "mixed", Episodes: 6, Noise: []float64{0, 0.5}}}
	if _, err := collect.Collect(context.Background(), cc, collect.Options{}); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`out_dir: %[1]s/out
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
      tasks: exptest/suite
      datasets: [%[1]s/data/mixed.evds]
      lora: {r: 2, alpha: 4, dropout: 0, target_modules: [attention-mlp]}
      eva: {max_batches: 10, accept_unconverged: true, rollout_episodes: 2, rollout_max_steps: 10, batch: 4, num_envs: 2}
      train: {steps: 6, batch_size: 4, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 0}}
      eval: {every: 3, episodes: 2, test_episodes: 3, num_envs: 3}
      log_every: 3
`, dir)
	path := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

func runAll(t *testing.T, cfg Config) (*Plan, *Results) {
	t.Helper()
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rn := &Runner{Plan: p, Gemm: nn.GonumGemm{}}
	failures, err := RunLocal(context.Background(), p, 1, rn.RunOne, nil)
	if err != nil || len(failures) > 0 {
		t.Fatalf("runs failed: %v %v", err, failures)
	}
	res, err := Merge(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

// An experiment runs every (task, variant, seed), writes tables with intervals, and
// on a second invocation reuses every run; a changed variant reruns its runs only.
func TestExperimentRunsReusesAndReruns(t *testing.T) {
	cfg, _ := fixture(t)
	p, res := runAll(t, cfg)
	if len(p.Runs) != 2*2*2 || len(res.Runs) != 8 || len(res.Failed) != 0 {
		t.Fatalf("%d runs planned, %d results, %d failed; want 8, 8, 0", len(p.Runs), len(res.Runs), len(res.Failed))
	}
	md, err := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## grid, offline (2 tasks)", "| lora |", "| eva |", "Probability of improvement", "exptest/suite-01"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	for _, f := range []string{"results.json", "timing.json", "timing.md", "curves_grid_offline.png", "profiles_grid_offline.png", "improvement_grid_offline.png"} {
		if _, err := os.Stat(filepath.Join(cfg.OutDir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	var back Results
	data, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.json"))
	if err := json.Unmarshal(data, &back); err != nil || len(back.Runs) != 8 || len(back.Groups) != 1 || len(back.Groups[0].Aggregates) != 2 {
		t.Fatalf("results.json: %v, %+v", err, back.Groups)
	}
	// Nothing changed: every run is done and reused (a rerun would rewrite its files).
	mtimes := map[int]int64{}
	for _, r := range p.Runs {
		if Status(r) != StatusDone {
			t.Fatalf("run %d: %s", r.Index, Status(r))
		}
		st, _ := os.Stat(filepath.Join(r.Dir, "results.json"))
		mtimes[r.Index] = st.ModTime().UnixNano()
	}
	runAll(t, cfg)
	same, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if string(same) != string(md) {
		t.Error("merging the same runs again gave another results.md")
	}
	// A changed EVA setting reruns the eva runs, and only them.
	cfg.Variants[1].Rho = 2
	p2, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p2.Runs {
		want := StatusDone
		if r.Variant == "eva" {
			want = StatusMissing
		}
		if s := Status(r); s != want {
			t.Errorf("after changing eva's rho, run %d (%s) is %s, want %s", r.Index, r.Variant, s, want)
		}
	}
	runAll(t, cfg)
	for _, r := range p2.Runs {
		st, _ := os.Stat(filepath.Join(r.Dir, "results.json"))
		if changed := st.ModTime().UnixNano() != mtimes[r.Index]; changed != (r.Variant == "eva") {
			t.Errorf("run %d (%s): rewritten %v", r.Index, r.Variant, changed)
		}
	}
}

// A learning-rate sweep picks, per variant, the rate with the best validation score.
func TestSweepChoosesOnValidation(t *testing.T) {
	cfg, dir := fixture(t)
	cfg.Variants = []Variant{{Name: "lora", Method: "lora", LRs: []float64{1e-4, 3e-3}}}
	cfg.Seeds = []uint64{5, 6}
	_, res := runAll(t, cfg)
	choice, err := ReadLRChoice(filepath.Join(cfg.OutDir, "lr_choice.json"))
	if err != nil {
		t.Fatal(err)
	}
	lr, ok := choice["grid/offline/lora"]
	if !ok {
		t.Fatalf("no choice for grid/offline/lora: %v", choice)
	}
	mean := map[float64]float64{}
	for _, r := range res.Runs {
		var x float64
		fmt.Sscanf(strings.TrimPrefix(r.Variant, "lora@"), "%g", &x)
		mean[x] += r.Validation / 4
	}
	for other, v := range mean {
		if v > mean[lr] {
			t.Errorf("chose lr %g (validation %.2f) over %g (%.2f)", lr, mean[lr], other, v)
		}
	}
	// A comparison takes the chosen rate with lr_from.
	cfg.Variants = []Variant{{Name: "lora", Method: "lora"}}
	cfg.LRFrom = filepath.Join(cfg.OutDir, "lr_choice.json")
	cfg.RunsDir = filepath.Join(dir, "runs2")
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Runs[0].Spec.Train.Schedule.LR; got != lr {
		t.Errorf("lr_from gave lr %g, want the chosen %g", got, lr)
	}
}
