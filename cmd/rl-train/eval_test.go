package main

import (
	"bytes"
	"encoding/json"
	"image/gif"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// tinyGridPolicy saves an untrained GridWorld-v0 policy (204 observation values, 3
// actions) small enough to act fast, and returns the checkpoint directory.
func tinyGridPolicy(t *testing.T, seed uint64) string {
	t.Helper()
	cfg := policy.Config{StateDim: 204, Action: policy.ActionSpace{Discrete: 3}, EmbedDim: 16, Layers: 1, Heads: 2, Context: 4,
		MaxEpisodeLen: 512, Activation: policy.ActGELU, Head: policy.HeadCategorical, ReturnScale: 1}
	m, err := policy.New(cfg, rand.New(rand.NewPCG(seed, 1)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// perturbedAdapter saves a LoRA adapter for the checkpoint at ckpt whose B is not
// zero, so that it changes what the policy does.
func perturbedAdapter(t *testing.T, ckpt string) string {
	t.Helper()
	m, err := policy.Load(ckpt, nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	lc := lora.DefaultConfig()
	rng := rand.New(rand.NewPCG(7, 7))
	lm, err := lora.Apply(m, lc, lora.Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range lm.Adapters {
		for i := range a.B.Data {
			a.B.Data[i] = float32(rng.NormFloat64())
		}
	}
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := lm.Save(dir, ckpt); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runEvalCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runWith(append([]string{"eval", "--log-format", "json", "--blas", "gonum"}, args...), &stdout, &stderr)
	return stdout.String(), err
}

func readReport(t *testing.T, path string) *agents.Evaluation {
	t.Helper()
	r, err := agents.ReadEvaluation(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tableRow returns the cells of the Markdown row whose first two cells are task and
// target.
func tableRow(t *testing.T, md, task string, target float64) []string {
	t.Helper()
	for _, line := range strings.Split(md, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) == 9 && cells[0] == task && cells[1] == strconv.FormatFloat(target, 'g', -1, 64) {
			return cells
		}
	}
	t.Fatalf("no row for %s at target %g in:\n%s", task, target, md)
	return nil
}

func parseNum(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(s, "±")), 64)
	if err != nil {
		t.Fatalf("table cell %q: %v", s, err)
	}
	return v
}

// near reports |got − want| within the rounding of a 4-significant-digit table cell.
func near(got, want float64) bool { return math.Abs(got-want) <= 5e-4*math.Max(1, math.Abs(want)) }

func TestEvalSmoke(t *testing.T) {
	ckpt := tinyGridPolicy(t, 1)
	dir := t.TempDir()
	out, rec := filepath.Join(dir, "out"), filepath.Join(dir, "rec")
	tasks := []string{"gridworld/heldout-00", "gridworld/heldout-01"}
	targets := []float64{1, 0.5}
	stdout, err := runEvalCmd(t, "--checkpoint", ckpt, "--tasks", strings.Join(tasks, ","), "--episodes", "2", "--targets", "1,0.5",
		"--num-envs", "3", "--ref-episodes", "2", "--sample", "--seed", "3", "--out", out, "--record", rec)
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	rep := readReport(t, filepath.Join(out, agents.EvaluationJSON))
	md, err := os.ReadFile(filepath.Join(out, agents.EvaluationMD))
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != stdout {
		t.Errorf("results.md differs from the table printed:\n%s\n---\n%s", md, stdout)
	}
	if len(rep.Results) != len(tasks)*len(targets) || rep.Episodes != 2 || rep.Greedy || rep.Seed != 3 {
		t.Fatalf("report has %d results, episodes %d, greedy %v, seed %d; want 4, 2, false, 3", len(rep.Results), rep.Episodes, rep.Greedy, rep.Seed)
	}
	for i, r := range rep.Results {
		task, target := tasks[i/2], targets[i%2]
		if r.TaskID != task || r.Target != target || len(r.Returns) != 2 {
			t.Fatalf("result %d is %s at %g with %d returns, want %s at %g with 2", i, r.TaskID, r.Target, len(r.Returns), task, target)
		}
		// Statistics by hand from the per-episode values in the same file.
		mean := (r.Returns[0] + r.Returns[1]) / 2
		std := math.Abs(r.Returns[0]-r.Returns[1]) / math.Sqrt2
		ci := 12.706204736174698 * std / math.Sqrt2 // t(0.975, 1 dof), scipy.stats.t.ppf
		length := float64(r.Lengths[0]+r.Lengths[1]) / 2
		if !near(r.Mean, mean) || !near(r.Std, std) || !near(r.CI95, ci) || r.MeanLength != length {
			t.Errorf("%s@%g: mean/std/ci/length = %v/%v/%v/%v, want %v/%v/%v/%v", task, target, r.Mean, r.Std, r.CI95, r.MeanLength, mean, std, ci, length)
		}
		if r.Reference == nil || r.Normalized == nil || !(r.Reference.Expert > r.Reference.Random) {
			t.Fatalf("%s@%g: reference %+v, normalised %v; want an expert above random", task, target, r.Reference, r.Normalized)
		}
		if want := 100 * (mean - r.Reference.Random) / (r.Reference.Expert - r.Reference.Random); !near(*r.Normalized, want) {
			t.Errorf("%s@%g: normalised %v, want %v", task, target, *r.Normalized, want)
		}
		cells := tableRow(t, stdout, task, target)
		ms := strings.Split(cells[2], "±")
		checks := []struct {
			name      string
			got, want float64
		}{
			{"mean", parseNum(t, ms[0]), r.Mean}, {"std", parseNum(t, ms[1]), r.Std}, {"ci95", parseNum(t, cells[3]), r.CI95},
			{"success", parseNum(t, cells[4]), r.SuccessRate}, {"length", parseNum(t, cells[5]), r.MeanLength},
			{"normalised", parseNum(t, cells[6]), *r.Normalized}, {"random", parseNum(t, cells[7]), r.Reference.Random},
			{"expert", parseNum(t, cells[8]), r.Reference.Expert},
		}
		for _, c := range checks {
			if math.Abs(c.got-c.want) > 0.05+5e-3*math.Abs(c.want) {
				t.Errorf("%s@%g: table %s = %v, results.json %v", task, target, c.name, c.got, c.want)
			}
		}
	}
	// The recordings hold every episode, in target order, with the returns reported.
	for ti, task := range tasks {
		ds, err := replay.Open(filepath.Join(rec, agents.TaskFileName(task)+".evds"), replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Episodes) != len(targets)*2 {
			t.Fatalf("%s: %d recorded episodes, want %d", task, len(ds.Episodes), len(targets)*2)
		}
		for k, ep := range ds.Episodes {
			r := rep.Results[ti*2+k/2]
			want := r.Returns[k%2]
			if ep.TaskID != task || math.Abs(ep.Return()-want) > 1e-5 || ep.Len() != r.Lengths[k%2] || ep.Seed != 3+int64(k%2) {
				t.Errorf("%s episode %d: task %s return %v length %d seed %d; want %s %v %d %d", task, k, ep.TaskID, ep.Return(), ep.Len(), ep.Seed,
					task, want, r.Lengths[k%2], 3+k%2)
			}
			if !strings.Contains(ep.Source, "target="+strconv.FormatFloat(r.Target, 'g', -1, 64)) {
				t.Errorf("%s episode %d: source %q does not name target %g", task, k, ep.Source, r.Target)
			}
		}
	}
}

// An adapter is merged into the checkpoint it was made for: evaluating checkpoint +
// adapter equals evaluating a checkpoint holding the merged weights, and differs from
// the checkpoint alone. eval-merge puts both policies in one table.
func TestEvalAdapterAndMerge(t *testing.T) {
	ckpt := tinyGridPolicy(t, 2)
	adapter := perturbedAdapter(t, ckpt)
	m, err := policy.Load(ckpt, nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := lora.Load(adapter, m, lora.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lm.Merge(true); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(t.TempDir(), "merged")
	if err := m.Save(merged); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	common := []string{"--tasks", "gridworld/heldout-02", "--episodes", "3", "--targets", "1", "--ref-episodes", "0"}
	run := func(name string, args ...string) (*agents.Evaluation, []*replay.Episode) {
		out := filepath.Join(dir, name)
		if _, err := runEvalCmd(t, append(append(args, common...), "--out", out, "--record", out)...); err != nil {
			t.Fatalf("eval %s: %v", name, err)
		}
		ds, err := replay.Open(filepath.Join(out, agents.TaskFileName("gridworld/heldout-02")+".evds"), replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return readReport(t, filepath.Join(out, agents.EvaluationJSON)), ds.Episodes
	}
	base, baseEps := run("base", "--checkpoint", ckpt)
	adapted, adaptedEps := run("adapted", "--checkpoint", ckpt, "--adapter", adapter, "--label", "ckpt+lora")
	_, mergedEps := run("merged", "--checkpoint", merged)
	// The untrained policy may never reach the goal, so compare what it did.
	sameActions := func(a, b []*replay.Episode) bool {
		for i := range a {
			if !slices.Equal(a[i].Actions, b[i].Actions) {
				return false
			}
		}
		return true
	}
	if !sameActions(adaptedEps, mergedEps) {
		t.Errorf("checkpoint + adapter and the merged checkpoint act differently")
	}
	if sameActions(adaptedEps, baseEps) {
		t.Errorf("the adapter changed no action")
	}
	if adapted.Adapter != adapter || adapted.Label != "ckpt+lora" || base.Label != ckpt || base.Results[0].Normalized != nil {
		t.Errorf("labels %q/%q, adapter %q, normalised %v", base.Label, adapted.Label, adapted.Adapter, base.Results[0].Normalized)
	}

	var stdout, stderr bytes.Buffer
	table := filepath.Join(dir, "table.md")
	files := []string{filepath.Join(dir, "base", agents.EvaluationJSON), filepath.Join(dir, "adapted", agents.EvaluationJSON)}
	if err := runWith(append([]string{"eval-merge", "--out", table}, files...), &stdout, &stderr); err != nil {
		t.Fatalf("eval-merge: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("merged table has %d lines, want header, rule and 2 rows:\n%s", len(lines), stdout.String())
	}
	for i, r := range []*agents.Evaluation{base, adapted} {
		cells := strings.Split(strings.Trim(lines[2+i], "|"), "|")
		s := r.Summary[0]
		if strings.TrimSpace(cells[0]) != r.Label || strings.TrimSpace(cells[4]) != "-" ||
			math.Abs(parseNum(t, cells[5])-s.SuccessRate) > 0.005 || !near(parseNum(t, cells[6]), r.Results[0].Mean) {
			t.Errorf("merged row %q, want label %s, no normalised score, success %v, return %v", lines[2+i], r.Label, s.SuccessRate, r.Results[0].Mean)
		}
	}
	if data, err := os.ReadFile(table); err != nil || string(data) != stdout.String() {
		t.Errorf("--out file %q (err %v) differs from stdout", data, err)
	}
}

func TestEvalConfigFileAndFlags(t *testing.T) {
	ckpt := tinyGridPolicy(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	cfg := writeConfig(t, "checkpoint: "+ckpt+"\ntasks: gridworld/heldout-03\nepisodes: 5\ntargets: [1.0]\nref_episodes: 0\nout: "+out+"\n")
	if _, err := runEvalCmd(t, "--config", cfg, "--episodes", "1"); err != nil {
		t.Fatal(err)
	}
	if r := readReport(t, filepath.Join(out, agents.EvaluationJSON)); r.Episodes != 1 || len(r.Results[0].Returns) != 1 || r.Tasks != "gridworld/heldout-03" {
		t.Errorf("episodes %d (%d returns) on %s; want the flag's 1 on the file's gridworld/heldout-03", r.Episodes, len(r.Results[0].Returns), r.Tasks)
	}
}

func TestEvalBadInput(t *testing.T) {
	ckpt := tinyGridPolicy(t, 4)
	otherAdapter := perturbedAdapter(t, tinyGridPolicy(t, 5))
	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, policy.ConfigFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	ok := []string{"--tasks", "gridworld/heldout-00", "--episodes", "1", "--ref-episodes", "0"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"non-numeric target", append([]string{"--checkpoint", ckpt, "--targets", "1,high"}, ok...), []string{`"high" is not a finite number`}},
		{"NaN target", append([]string{"--checkpoint", ckpt, "--targets", "NaN"}, ok...), []string{`"NaN" is not a finite number`}},
		{"no targets", append([]string{"--checkpoint", ckpt}, ok...), []string{"targets is empty"}},
		{"no checkpoint", append([]string{"--targets", "1"}, ok...), []string{"--checkpoint DIR"}},
		{"missing checkpoint", append([]string{"--checkpoint", missing, "--targets", "1"}, ok...), []string{"checkpoint " + missing, "not a directory"}},
		{"corrupt checkpoint", append([]string{"--checkpoint", corrupt, "--targets", "1"}, ok...), []string{"checkpoint " + corrupt, "invalid checkpoint"}},
		{"mismatched env", []string{"--checkpoint", ckpt, "--targets", "1", "--tasks", "cartpole/heldout"},
			[]string{"task cartpole/heldout-00: environment CartPole-v1 has observations of 4 values", "observations of 4 values, the policy expects 204"}},
		{"unknown task set", []string{"--checkpoint", ckpt, "--targets", "1", "--tasks", "gridworld/nope"},
			[]string{"eval: tasks", `"gridworld/nope" is neither a task set`, "gridworld/heldout"}},
		{"adapter of another model", append([]string{"--checkpoint", ckpt, "--targets", "1", "--adapter", otherAdapter}, ok...),
			[]string{"adapter " + otherAdapter, "was trained on base model"}},
		{"greedy and sample", append([]string{"--checkpoint", ckpt, "--targets", "1", "--greedy", "--sample"}, ok...), []string{"exclude each other"}},
		{"zero episodes", []string{"--checkpoint", ckpt, "--targets", "1", "--tasks", "gridworld/heldout-00", "--episodes", "0"}, []string{"episodes = 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runEvalCmd(t, tc.args...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want one containing %q", err, w)
				}
			}
		})
	}
	// A config with an unknown key is refused, naming it.
	cfg := writeConfig(t, "checkpoint: "+ckpt+"\ntarget: [1]\n")
	if _, err := runEvalCmd(t, "--config", cfg); err == nil || !strings.Contains(err.Error(), "target") {
		t.Errorf("unknown key: err = %v", err)
	}
	// So is a target in the config that is not a number, naming the value.
	cfg = writeConfig(t, "checkpoint: "+ckpt+"\ntasks: gridworld/heldout\ntargets: [1, high]\n")
	if _, err := runEvalCmd(t, "--config", cfg); err == nil || !strings.Contains(err.Error(), "targets.1: want a number, got a string `high`") {
		t.Errorf("non-numeric target in the config: err = %v", err)
	}
	if err := runWith([]string{"eval-merge", missing}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("eval-merge of a missing file: err = %v", err)
	}
	var r bytes.Buffer
	json.NewEncoder(&r).Encode(map[string]int{"steps": 3})
	bad := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(bad, r.Bytes(), 0o644)
	if err := runWith([]string{"eval-merge", bad}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "steps") {
		t.Errorf("eval-merge of another JSON file: err = %v", err)
	}
}

// The example configs load strictly and validate, and name registered tasks.
func TestEvalConfigsValid(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "eval-*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no configs/eval-*.yaml (err %v)", err)
	}
	for _, p := range paths {
		cfg := defaultEvalCmdConfig()
		a := &app{configPath: p}
		if _, err := a.loadConfig(&cfg); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if err := cfg.validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if _, err := envs.ResolveTasks(cfg.Tasks); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// --render without --record draws the first episode of each target into a GIF per
// task, one frame per observation.
func TestEvalRender(t *testing.T) {
	ckpt := tinyGridPolicy(t, 6)
	dir := t.TempDir()
	out, gifs := filepath.Join(dir, "out"), filepath.Join(dir, "gifs")
	stdout, err := runEvalCmd(t, "--checkpoint", ckpt, "--tasks", "gridworld/heldout-04", "--episodes", "2", "--targets", "1,0.5",
		"--ref-episodes", "0", "--out", out, "--render", gifs)
	if err != nil {
		t.Fatal(err)
	}
	if md, err := os.ReadFile(filepath.Join(out, agents.EvaluationMD)); err != nil || string(md) != stdout {
		t.Errorf("stdout holds more than the table (err %v):\n%s", err, stdout)
	}
	if _, err := os.Stat(filepath.Join(gifs, agents.TaskFileName("gridworld/heldout-04")+".evds")); !os.IsNotExist(err) {
		t.Errorf("without --record, replay files were left beside the GIFs (stat err %v)", err)
	}
	rep := readReport(t, filepath.Join(out, agents.EvaluationJSON))
	f, err := os.Open(filepath.Join(gifs, agents.TaskFileName("gridworld/heldout-04")+".gif"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	// Episode 0 of each target: its steps plus the final observation.
	want := rep.Results[0].Lengths[0] + 1 + rep.Results[1].Lengths[0] + 1
	if len(g.Image) != want {
		t.Errorf("GIF has %d frames, want %d", len(g.Image), want)
	}
}

// A checkpoint without evarl checksums (here: one whose seal was stripped, as a
// file assembled by another tool has none) is refused with a hint at the flag, and
// loads with --allow-unverified.
func TestEvalUnverifiedCheckpoint(t *testing.T) {
	ckpt := tinyGridPolicy(t, 9)
	path := filepath.Join(ckpt, policy.WeightsFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for k := range f.Metadata {
		if strings.HasPrefix(k, "evarl_sha256") {
			delete(f.Metadata, k)
		}
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	args := []string{"--checkpoint", ckpt, "--tasks", "gridworld/heldout-00", "--episodes", "1", "--targets", "1", "--ref-episodes", "0"}
	if _, err := runEvalCmd(t, args...); err == nil || !strings.Contains(err.Error(), "--allow-unverified") {
		t.Errorf("unverified checkpoint: %v, want a refusal naming --allow-unverified", err)
	}
	if _, err := runEvalCmd(t, append(args, "--allow-unverified")...); err != nil {
		t.Errorf("with --allow-unverified: %v", err)
	}
}
