package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/policy"
)

// pipetest tasks are small gridworlds with a short time limit, so that the pipeline
// commands run end to end in seconds.
func init() {
	opts := func(seed int, perm []any) envs.Options {
		o := envs.Options{"size": 7, "layout": "rooms", "task_seed": seed, "max_episode_steps": 30}
		if perm != nil {
			o["action_permutation"] = perm
		}
		return o
	}
	envs.RegisterTaskSet(envs.TaskSet{Family: "pipetest", Name: "pretrain", Tasks: []envs.Task{
		{ID: "pipetest/pretrain-00", EnvID: "GridWorld-v0", Options: opts(1, nil)},
		{ID: "pipetest/pretrain-01", EnvID: "GridWorld-v0", Options: opts(2, nil)},
	}})
	envs.RegisterTaskSet(envs.TaskSet{Family: "pipetest", Name: "heldout", Tasks: []envs.Task{
		{ID: "pipetest/heldout-00", EnvID: "GridWorld-v0", Options: opts(3, []any{1, 0, 2})},
	}})
}

// run runs rl-train with args and fails the test on error.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := runWith(append(args, "--log-level", "warn"), &stdout, &stderr); err != nil {
		t.Fatalf("rl-train %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const pipeModel = `model: {embed_dim: 16, layers: 1, heads: 2, context: 4, max_episode_len: 32, dropout: 0.1, activation: gelu, head: categorical, return_scale: 1}`

const pipeEval = `eval: {every: 4, episodes: 1, test_episodes: 2, num_envs: 4, targets: [1.0], greedy: true, ref_episodes: 2}`

// pipeline collects data for the pipetest tasks and pretrains a tiny policy on them,
// returning the directory and the pretrained checkpoint.
func pipeline(t *testing.T) (dir, base string) {
	t.Helper()
	dir = t.TempDir()
	for _, set := range []string{"pretrain", "heldout"} {
		collect := writeFile(t, dir, "collect-"+set+".yaml", fmt.Sprintf(`task_set: pipetest/%s
out_dir: %s
datasets: [{name: mixed, episodes: 6, noise: [0, 0.5]}]
num_envs: 2
`, set, filepath.Join(dir, "data", set)))
		runOK(t, "collect", "--config", collect)
	}
	base = filepath.Join(dir, "base")
	pre := writeFile(t, dir, "pretrain.yaml", fmt.Sprintf(`run_dir: %s
datasets: [%s]
task_set: pipetest/pretrain
held_out: pipetest/heldout
export: %s
%s
train: {steps: 8, batch_size: 4, clip_norm: 0.25, schedule: {kind: cosine, lr: 1.0e-3, warmup_steps: 2, total_steps: 12, min_lr: 1.0e-4}}
%s
log_every: 2
metrics: metrics.csv
`, filepath.Join(dir, "pre"), filepath.Join(dir, "data", "pretrain", "mixed.evds"), base, pipeModel, pipeEval))
	out := runOK(t, "pretrain", "--config", pre)
	if !strings.Contains(out, "pipetest/heldout-00") {
		t.Errorf("pretrain table has no held-out row:\n%s", out)
	}
	// Resume to 12 updates: the metrics continue without repeating a step.
	runOK(t, "pretrain", "--config", pre, "--resume", "--steps", "12")
	rows, err := metrics.Read(filepath.Join(dir, "pre", "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	last := 0
	for _, r := range rows {
		kind := "train"
		if _, ok := r.Values["eval/score"]; ok {
			kind = "eval"
		}
		key := fmt.Sprint(kind, r.Step)
		if seen[key] {
			t.Errorf("metrics repeat %s row of step %d after resume", kind, r.Step)
		}
		seen[key] = true
		last = max(last, r.Step)
	}
	if last != 12 {
		t.Errorf("metrics end at step %d, want 12", last)
	}
	for _, f := range []string{"best/model.safetensors", "last/trainer_state.json", "learning_curve.png", "results.json", "results.md"} {
		if _, err := os.Stat(filepath.Join(dir, "pre", f)); err != nil {
			t.Errorf("pretrain did not write %s: %v", f, err)
		}
	}
	if _, err := policy.ReadCheckpointMeta(base); err != nil {
		t.Errorf("exported checkpoint: %v", err)
	}
	return dir, base
}

func finetuneConfigText(dir, base, runDir string) string {
	return fmt.Sprintf(`run_dir: %s
base: %s
tasks: pipetest/heldout-00
datasets: [%s]
lora: {r: 2, alpha: 2, dropout: 0, target_modules: [attn.q, attn.v, mlp.fc]}
eva: {rho: 2, tau: 0.9, max_batches: 20, accept_unconverged: true, source: rollouts, rollout_episodes: 4, batch: 4}
train: {steps: 8, batch_size: 4, clip_norm: 0.25, schedule: {kind: cosine, lr: 1.0e-3, warmup_steps: 2, total_steps: 8, min_lr: 1.0e-4}}
online: {offline_updates: 3, iterations: 2, episodes_per_iteration: 2, num_envs: 2, updates_per_iteration: 4, batch_size: 4, buffer_size: 20, eval_target: 1, explore_scale: 2, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 1}}
%s
log_every: 2
`, runDir, base, filepath.Join(dir, "data", "heldout", "mixed.evds"), pipeEval)
}

// TestPipeline runs collect, pretrain (and its resume), finetune with every method
// in both modes, and run, on tiny budgets: each writes what it promises.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	dir, base := pipeline(t)
	for _, mode := range []string{finetune.ModeOffline, finetune.ModeOnline} {
		for _, method := range finetune.Methods {
			if mode == finetune.ModeOnline && method != finetune.MethodEVA && method != finetune.MethodFull {
				continue // the online trainer is the same for every adapter init
			}
			t.Run(mode+"/"+method, func(t *testing.T) {
				// One config for both modes and every method; the flags choose.
				runDir := filepath.Join(dir, "ft", mode, method)
				cfg := writeFile(t, dir, "ft.yaml", finetuneConfigText(dir, base, filepath.Join(dir, "ft", "unused")))
				runOK(t, "finetune", "--config", cfg, "--method", method, "--mode", mode, "--run-dir", runDir)
				res, err := finetune.ReadResult(runDir)
				if err != nil {
					t.Fatal(err)
				}
				if res.Method != method || res.Mode != mode || res.Trainable == 0 || len(res.PerTask["best"]) != 1 || len(res.PerTask["last"]) != 1 {
					t.Errorf("results: %+v", res)
				}
				_, _, adapterErr := lora.ReadConfig(filepath.Join(runDir, "best"))
				if method == finetune.MethodFull {
					if _, err := policy.ReadCheckpointMeta(filepath.Join(runDir, "best")); err != nil {
						t.Errorf("full fine-tuning saved no policy checkpoint: %v", err)
					}
					if res.Trainable != res.Params {
						t.Errorf("full fine-tuning trains %d of %d parameters", res.Trainable, res.Params)
					}
				} else {
					if adapterErr != nil {
						t.Errorf("%s saved no adapter: %v", method, adapterErr)
					}
					if res.Trainable >= res.Params/2 {
						t.Errorf("%s trains %d of %d parameters", method, res.Trainable, res.Params)
					}
				}
				if method == finetune.MethodEVA && (len(res.Ranks) == 0 || res.EVASeconds <= 0) {
					t.Errorf("eva reported no ranks or pass time: %+v", res)
				}
			})
		}
	}
	t.Run("torn dataset", func(t *testing.T) {
		// A crash while writing leaves a torn last record: refused with the flag that
		// accepts it named (not the Go option), accepted with it.
		data, err := os.ReadFile(filepath.Join(dir, "data", "heldout", "mixed.evds"))
		if err != nil {
			t.Fatal(err)
		}
		torn := filepath.Join(dir, "torn.evds")
		if err := os.WriteFile(torn, data[:len(data)-7], 0o644); err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(finetuneConfigText(dir, base, filepath.Join(dir, "ft", "torn")), filepath.Join(dir, "data", "heldout", "mixed.evds"), torn, 1)
		cfg := writeFile(t, dir, "ft-torn.yaml", text)
		var stdout, stderr bytes.Buffer
		err = runWith([]string{"finetune", "--config", cfg, "--method", "lora"}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "--allow-truncated") || strings.Contains(err.Error(), "AllowTruncatedTail") {
			t.Errorf("torn dataset: %v, want an error naming --allow-truncated", err)
		}
		runOK(t, "finetune", "--config", cfg, "--method", "lora", "--allow-truncated")
	})
	t.Run("layer the model lacks", func(t *testing.T) {
		text := strings.Replace(finetuneConfigText(dir, base, filepath.Join(dir, "ft", "bad")), "[attn.q, attn.v, mlp.fc]", "[attn.qq]", 1)
		cfg := writeFile(t, dir, "ft-bad-layer.yaml", text)
		var stdout, stderr bytes.Buffer
		err := runWith([]string{"finetune", "--config", cfg, "--method", finetune.MethodLoRA}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "attn.qq") {
			t.Errorf("error %v does not name the missing layer attn.qq", err)
		}
	})
	t.Run("run", func(t *testing.T) {
		runDir := filepath.Join(dir, "quick")
		ft := finetuneConfigText(dir, base, runDir)
		var indented strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(ft), "\n") {
			indented.WriteString("  " + line + "\n")
		}
		cfg := writeFile(t, dir, "quick.yaml", fmt.Sprintf(`collect:
  task_set: pipetest/heldout
  out_dir: %s
  datasets: [{name: mixed, episodes: 6, noise: [0, 0.5]}]
finetune:
%sreplay: {episodes: 1, gif: true, fps: 10, scale: 0.5}
`, filepath.Join(dir, "data", "heldout"), indented.String()))
		out := runOK(t, "run", cfg)
		for _, want := range []string{"SUMMARY", "success rate", "gridworld", ".gif"} {
			if !strings.Contains(out, want) && !(want == "gridworld" && strings.Contains(out, "pipetest")) {
				t.Errorf("summary lacks %q:\n%s", want, out)
			}
		}
		if !regexp.MustCompile(`\nEVA +\d+\.\d\d s \(\d+\.\d % of EVA \+ training\): rollouts \d+\.\d\d s, pass \d+\.\d\d s\n`).MatchString(out) {
			t.Errorf("summary lacks the EVA line with its rollouts and pass:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(runDir, "replays", "pipetest_heldout-00.gif")); err != nil {
			t.Errorf("no replay GIF: %v", err)
		}

		// A target that selects nothing is refused before the missing data is
		// collected.
		fresh := filepath.Join(dir, "data", "fresh")
		text := strings.NewReplacer(filepath.Join(dir, "data", "heldout"), fresh, "[attn.q, attn.v, mlp.fc]", "[attn.qq]", runDir, runDir+"-typo").
			Replace(string(must(os.ReadFile(cfg))))
		var stdout, stderr bytes.Buffer
		err := runWith([]string{"run", writeFile(t, dir, "quick-typo.yaml", text), "--log-level", "warn"}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), `target_modules entry "attn.qq"`) {
			t.Errorf("run with a mistyped target: %v, want an error naming it", err)
		}
		if _, err := os.Stat(fresh); !os.IsNotExist(err) {
			t.Errorf("the refused run collected data anyway (%s: %v)", fresh, err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestFinetuneBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, config, want string
		args               []string
	}{
		{"unknown method", "run_dir: x\nbase: y\ntasks: pipetest/heldout-00\n" + pipeEval + "\n", `method "bogus"`, []string{"--method", "bogus"}},
		{"unknown key", "run_dir: x\nbase: y\ntasks: pipetest/heldout-00\nlearning_rate: 3\n", "learning_rate", nil},
		{"missing base", "run_dir: " + filepath.Join(dir, "r") + "\nbase: " + filepath.Join(dir, "nope") + "\ntasks: pipetest/heldout-00\n" + pipeEval + "\n", "nope", nil},
		{"unknown task", "run_dir: x\nbase: y\ntasks: pipetest/heldout-99\n" + pipeEval + "\n", "heldout-99", nil},
		{"non-numeric target", "run_dir: x\nbase: y\ntasks: pipetest/heldout-00\neval: {targets: [high]}\n", "high", nil},
		{"missing dataset", "run_dir: " + filepath.Join(dir, "r2") + "\nbase: ../../pretrained/gridworld\ntasks: gridworld/heldout-04\ndatasets: [" +
			filepath.Join(dir, "absent.evds") + "]\n" + pipeEval + "\n", "absent.evds: no such file or directory (datasets are written by rl-train collect", nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, dir, fmt.Sprintf("bad%d.yaml", i), tc.config)
			var stdout, stderr bytes.Buffer
			err := runWith(append([]string{"finetune", "--config", cfg}, tc.args...), &stdout, &stderr)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}
