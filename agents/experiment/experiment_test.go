package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/experiment/internal/exptest"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/nn"
)

// fixture writes the tiny experiment (package exptest) and loads its config.
func fixture(t *testing.T) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := exptest.WriteFile(t, dir, "exp.yaml", exptest.Setup(t, dir))
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
	checkFigureLinks(t, cfg.OutDir, string(md), 3)
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

// cancelAt cancels a context when the run logs its validation at update step, as a
// SIGTERM from Slurm (time limit, preemption) cancels rl-train's context mid-run.
type cancelAt struct {
	step   int
	cancel context.CancelFunc
}

func (h cancelAt) Levels() []logrus.Level { return logrus.AllLevels }

func (h cancelAt) Fire(e *logrus.Entry) error {
	if e.Message == "evaluation" && e.Data["step"] == h.step {
		h.cancel()
	}
	return nil
}

// A run interrupted in training is partial, keeps its log and not the stale files
// of another key, resumes from last/, and the merged tables equal those of runs
// never interrupted, byte for byte.
func TestInterruptedRunResumesToTheSameTables(t *testing.T) {
	cfg, dir := fixture(t)
	cfg.Variants = cfg.Variants[1:]
	_, want := runAll(t, cfg)
	wantMD, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	wantJSON, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.json"))
	if len(want.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(want.Runs))
	}

	cfg.RunsDir, cfg.OutDir = filepath.Join(dir, "runs2"), filepath.Join(dir, "out2")
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Runs[1]
	// A stale directory: an earlier attempt's log and a file of another key.
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exptest.WriteFile(t, r.Dir, LogFile, "an earlier attempt\n")
	exptest.WriteFile(t, r.Dir, KeyFile, "another key\n")
	exptest.WriteFile(t, r.Dir, "stale.json", "{}\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(cancelAt{step: 3, cancel: cancel})
	rn := &Runner{Plan: p, Gemm: nn.GonumGemm{}, Log: log}
	if err := rn.RunOne(ctx, r.Index); !errors.Is(err, agents.ErrInterrupted) {
		t.Fatalf("interrupted run returned %v, want agents.ErrInterrupted", err)
	}
	if s := Status(r); s != StatusPartial {
		t.Fatalf("interrupted run is %s, want %s", s, StatusPartial)
	}
	if got, _ := os.ReadFile(filepath.Join(r.Dir, LogFile)); string(got) != "an earlier attempt\n" {
		t.Errorf("the run's log became %q", got)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "stale.json")); err == nil {
		t.Error("a file of the stale run survived the new start")
	}
	if got := Counts(p); got[StatusPartial] != 1 || got[StatusMissing] != 3 {
		t.Fatalf("counts %v, want 1 partial, 3 missing", got)
	}
	rn = &Runner{Plan: p, Gemm: nn.GonumGemm{}}
	if failures, err := RunLocal(context.Background(), p, 1, rn.RunOne, nil); err != nil || len(failures) > 0 {
		t.Fatalf("resumed runs: %v %v", err, failures)
	}
	if _, err := Merge(p); err != nil {
		t.Fatal(err)
	}
	gotMD, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	gotJSON, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.json"))
	if string(gotMD) != string(wantMD) || string(gotJSON) != string(wantJSON) {
		t.Errorf("tables after an interruption differ from the uninterrupted ones:\n%s\nwant\n%s", gotMD, wantMD)
	}
}

// A run without a result is named in the tables with its status, error and logs.
func TestMergeNamesFailedRuns(t *testing.T) {
	cfg, _ := fixture(t)
	cfg.Variants, cfg.Seeds = cfg.Variants[:1], cfg.Seeds[:1]
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Runs[1]
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exptest.WriteFile(t, r.Dir, KeyFile, r.Key+"\n")
	exptest.WriteFile(t, r.Dir, FailedFile, "finetune: out of luck\nmore detail\n")
	if err := os.MkdirAll(filepath.Dir(p.SlurmLog(1)), 0o755); err != nil {
		t.Fatal(err)
	}
	exptest.WriteFile(t, filepath.Dir(p.SlurmLog(1)), filepath.Base(p.SlurmLog(1)), "task output\n")
	res, err := Merge(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"run 0 (grid exptest/suite-00 offline lora seed 0): missing; no log",
		fmt.Sprintf("run 1 (grid exptest/suite-01 offline lora seed 0): failed: finetune: out of luck; log %s", p.SlurmLog(1)),
	}
	if strings.Join(res.Failed, "\n") != strings.Join(want, "\n") {
		t.Errorf("failed runs:\n%s\nwant\n%s", strings.Join(res.Failed, "\n"), strings.Join(want, "\n"))
	}
	md, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if !strings.Contains(string(md), "**2 runs have no result**") || !strings.Contains(string(md), want[1]) {
		t.Errorf("results.md does not name the failed runs:\n%s", md)
	}
}

// checkFigureLinks fails unless results.md links exactly want figures and each exists.
func checkFigureLinks(t *testing.T, outDir, md string, want int) {
	t.Helper()
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(md, -1)
	if len(links) != want {
		t.Errorf("results.md links %d figures, want %d", len(links), want)
	}
	for _, l := range links {
		if _, err := os.Stat(filepath.Join(outDir, l[1])); err != nil {
			t.Errorf("results.md links %s, which was not drawn: %v", l[1], err)
		}
	}
}

// With one seed there is nothing to bootstrap across runs per task for the profiles
// and no pairs for the probability of improvement: results.md links only the figures
// that were drawn.
func TestOneSeedLinksOnlyDrawnFigures(t *testing.T) {
	cfg, _ := fixture(t)
	cfg.Seeds = cfg.Seeds[:1]
	runAll(t, cfg)
	md, err := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"curves_grid_offline.png", "profiles_grid_offline.png", "improvement_grid_offline.png"} {
		_, err := os.Stat(filepath.Join(cfg.OutDir, f))
		if linked := strings.Contains(string(md), "("+f+")"); linked != (err == nil) {
			t.Errorf("%s: linked %v, drawn %v", f, linked, err == nil)
		}
	}
	checkFigureLinks(t, cfg.OutDir, string(md), strings.Count(string(md), "!["))
}

// A variant whose adapters the base model would refuse makes the plan an error that
// names the family, mode and variant, before any run starts.
func TestPlanChecksAdaptersAgainstTheBase(t *testing.T) {
	cfg, _ := fixture(t)
	if _, err := NewPlan(cfg); err != nil {
		t.Fatalf("the fixture's plan: %v", err)
	}
	v := cfg.Variants[len(cfg.Variants)-1]
	v.Name, v.Set = "typo", map[string]any{"lora.target_modules": []any{"attn.qq"}}
	if v.Method == finetune.MethodFull {
		v.Method = finetune.MethodLoRA
	}
	cfg.Variants = append(cfg.Variants, v)
	_, err := NewPlan(cfg)
	if err == nil || !strings.Contains(err.Error(), "variant typo") || !strings.Contains(err.Error(), `target_modules entry "attn.qq"`) {
		t.Errorf("a plan with a mistyped target: %v, want an error naming the variant and the entry", err)
	}
}

// A run whose directory another process holds is refused and left as it is: no
// failure recorded in it, nothing cleared.
func TestRunOneRefusesARunInUse(t *testing.T) {
	cfg, _ := fixture(t)
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Runs[0]
	unlock, err := agents.LockRunDir(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	marker := filepath.Join(r.Dir, "being-written")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rn := &Runner{Plan: p, Gemm: nn.GonumGemm{}}
	if err := rn.RunOne(context.Background(), 0); !errors.Is(err, agents.ErrRunDirInUse) {
		t.Fatalf("RunOne on a held run: %v, want ErrRunDirInUse", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, FailedFile)); !os.IsNotExist(err) {
		t.Errorf("the refused run recorded a failure in the holder's directory (%v)", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the refused run cleared the holder's directory: %v", err)
	}
}

// A child that fails is reported with the error it recorded in its run directory,
// not only its exit status.
func TestChildLauncherReportsTheRunsError(t *testing.T) {
	cfg, _ := fixture(t)
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	script := `echo "finetune: eva: the pass failed" > "$0/failed"; exit 3`
	launch := ChildLauncher(p, "/bin/sh", "-c", script, p.Runs[0].Dir)
	err = launch(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "exit status 3: finetune: eva: the pass failed") {
		t.Errorf("launch of a failing child: %v, want its exit status and its recorded error", err)
	}
	// A child that dies before recording its error is not given the previous
	// attempt's.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(p.Runs[0].Dir, FailedFile), old, old); err != nil {
		t.Fatal(err)
	}
	err = ChildLauncher(p, "/bin/sh", "-c", "exit 4")(context.Background(), 0)
	if err == nil || strings.Contains(err.Error(), "the pass failed") || !strings.Contains(err.Error(), "exit status 4") {
		t.Errorf("launch of a child that recorded nothing: %v, want its exit status alone", err)
	}
	// What it printed as its error, if anything, names the cause; an error line
	// an earlier attempt left in the log does not.
	err = ChildLauncher(p, "/bin/sh", "-c", "exit 5")(context.Background(), 0)
	if err == nil || strings.Contains(err.Error(), "exit status 5:") {
		t.Errorf("launch of a child that printed nothing: %v, want its exit status alone", err)
	}
	err = ChildLauncher(p, "/bin/sh", "-c", `echo "rl-train: experiment: run 0: run directory in use" >&2; exit 1`)(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "exit status 1: experiment: run 0: run directory in use") {
		t.Errorf("launch of a child that printed its error: %v, want the error it printed", err)
	}
	err = ChildLauncher(p, "/bin/sh", "-c", "exit 6")(context.Background(), 0)
	if err == nil || strings.Contains(err.Error(), "in use") {
		t.Errorf("launch after an attempt that printed an error: %v, want this attempt's exit status alone", err)
	}
}

// A variant's set replaces a map rather than merging into it, and reaches nested keys.
func TestVariantSet(t *testing.T) {
	fam := Family{Name: "f", Finetune: FamilyFinetune{Base: "b", Tasks: "t", Datasets: []string{"d"}, Config: finetune.DefaultConfig()}}
	fam.Finetune.LoRA.RankPattern = map[string]int{"head": 3}
	v := Variant{Name: "v", Method: "eva", Set: map[string]any{"lora.rank_pattern": map[string]any{}, "eva.source": "dataset", "train.schedule.lr": 0.01}}
	spec, err := resolve(fam, "t", "offline", v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.LoRA.RankPattern) != 0 || spec.EVA.Source != "dataset" || spec.Train.Schedule.LR != 0.01 {
		t.Errorf("rank_pattern %v, eva.source %q, lr %v; want {}, dataset, 0.01", spec.LoRA.RankPattern, spec.EVA.Source, spec.Train.Schedule.LR)
	}
	if fam.Finetune.LoRA.RankPattern["head"] != 3 {
		t.Error("set changed the family's config")
	}
	if _, err := resolve(fam, "t", "offline", Variant{Name: "w", Method: "lora", Set: map[string]any{"lora.no_such_key": 1}}, nil); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Errorf("an unknown key in set: %v, want an error naming it", err)
	}
}

// An online family with offline_from pairs each online run with the offline run of
// the same variant, task and seed: the gain is the mean of the paired differences,
// and both sides' means are the runs' own best scores.
func TestOnlineAgainstOffline(t *testing.T) {
	dir := t.TempDir()
	online := `  - name: grid-online
    offline_from: grid
    modes: [online]
    finetune:
      base: %[1]s/base
      tasks: exptest/suite
      datasets: [%[1]s/data/mixed.evds]
      lora: {r: 2, alpha: 4, dropout: 0, target_modules: [attention-mlp]}
      eva: {max_batches: 10, accept_unconverged: true, rollout_episodes: 2, rollout_max_steps: 10, batch: 4, num_envs: 2}
      online: {offline_updates: 3, iterations: 1, episodes_per_iteration: 1, num_envs: 1, updates_per_iteration: 3, batch_size: 4,
               buffer_size: 20, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 0}, eval_target: 1}
      eval: {every: 3, episodes: 2, test_episodes: 3, num_envs: 3}
      log_every: 3
`
	path := exptest.WriteFile(t, dir, "exp.yaml", exptest.Setup(t, dir)+fmt.Sprintf(online, dir))
	cfg := DefaultConfig()
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	_, res := runAll(t, cfg)
	if len(res.OnlineGains) != 2 {
		t.Fatalf("%d online gains, want one per variant (2): %+v", len(res.OnlineGains), res.OnlineGains)
	}
	for _, g := range res.OnlineGains {
		var on, off, n float64
		best := map[string]float64{}
		for _, r := range res.Runs {
			if r.Variant == g.Variant && r.Family == "grid" && r.Mode == "offline" {
				best[fmt.Sprint(r.Task, r.Seed)] = r.Best
			}
		}
		for _, r := range res.Runs {
			if r.Variant == g.Variant && r.Family == "grid-online" {
				on += r.Best
				off += best[fmt.Sprint(r.Task, r.Seed)]
				n++
			}
		}
		if n != 4 || g.OfflineFamily != "grid" || g.Runs != 2 {
			t.Fatalf("%s: %v paired runs, offline family %q, %d seeds; want 4, grid, 2", g.Variant, n, g.OfflineFamily, g.Runs)
		}
		const tol = 1e-9
		if math.Abs(g.Online.Value-on/n) > tol || math.Abs(g.Offline.Value-off/n) > tol || math.Abs(g.Gain.Value-(on-off)/n) > tol {
			t.Errorf("%s: online %v offline %v gain %v; want %v %v %v", g.Variant, g.Online.Value, g.Offline.Value, g.Gain.Value, on/n, off/n, (on-off)/n)
		}
		if !(g.Gain.Lo <= g.Gain.Value && g.Gain.Value <= g.Gain.Hi) || g.PImprove.Value < 0 || g.PImprove.Value > 1 {
			t.Errorf("%s: gain %+v, P %+v", g.Variant, g.Gain, g.PImprove)
		}
	}
	md, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if !strings.Contains(string(md), "## Online against offline") || !strings.Contains(string(md), "| grid-online (grid) | eva | 2 |") {
		t.Errorf("results.md lacks the online-against-offline table:\n%s", md)
	}
	// offline_from must name a family with offline runs.
	bad := cfg
	bad.Families = slices.Clone(cfg.Families)
	bad.Families[1].OfflineFrom = "nope"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `offline_from = "nope"`) {
		t.Errorf("offline_from naming no family: %v", err)
	}
}
