package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// rl-train experiment: --slurm --dry-run prints the job scripts of the runs left to
// do, with the slurm section's options and the flags over them; --run executes one
// run; --status counts them; Slurm flags without --slurm, --slurm with --run, and a
// bad slurm section are errors that name what is wrong.
func TestExperimentCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("the pipeline fixture collects and pretrains")
	}
	dir, base := pipeline(t)
	text := fmt.Sprintf(`out_dir: %s
runs_dir: %s
seeds: [0, 1]
modes: [offline]
stats: {reps: 100}
variants: [{name: lora, method: lora}]
families:
  - name: pipe
    finetune:
      base: %s
      tasks: pipetest/heldout-00
      datasets: [%s]
      lora: {r: 2, alpha: 2, dropout: 0, target_modules: [attn.q, attn.v]}
      train: {steps: 4, batch_size: 4, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 0}}
      eval: {every: 2, episodes: 1, test_episodes: 2, num_envs: 2, targets: [1.0], greedy: true, ref_episodes: 2}
      log_every: 2
slurm: {partition: debug, time: "5", throttle: 1}
`, filepath.Join(dir, "exp-out"), filepath.Join(dir, "exp-runs"), base, filepath.Join(dir, "data", "heldout", "mixed.evds"))
	cfg := writeFile(t, dir, "exp.yaml", text)
	dry := []string{"experiment", cfg, "--slurm", "--dry-run", "--executable", "/shared/bin/rl-train", "--mem", "1G"}
	out := runOK(t, dry...)
	for _, want := range []string{"2 of 2 runs to do", "#SBATCH --array=0-1%1", "#SBATCH --partition=debug", "#SBATCH --time=5", "#SBATCH --mem=1G",
		"exec /shared/bin/rl-train experiment ", `--run "$SLURM_ARRAY_TASK_ID"`, "--merge"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	runOK(t, "experiment", cfg, "--run", "0")
	if out := runOK(t, "experiment", cfg, "--status"); !strings.Contains(out, "2 runs: 1 done, 0 partial, 0 failed, 1 missing") || strings.Contains(out, "SLURM") {
		t.Errorf("status after run 0:\n%s", out)
	}
	if out := runOK(t, dry...); !strings.Contains(out, "#SBATCH --array=1%1") {
		t.Errorf("the dry run after run 0 does not submit run 1 alone:\n%s", out)
	}

	bad := writeFile(t, dir, "bad.yaml", strings.Replace(text, `time: "5"`, `time: soon`, 1))
	typo := writeFile(t, dir, "typo.yaml", strings.Replace(text, `[attn.q, attn.v]`, `[attn.q, attn.qq]`, 1))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"experiment", cfg, "--partition", "gpu"}, "--partition applies to --slurm"},
		{[]string{"experiment", cfg, "--dry-run"}, "--dry-run applies to --slurm"},
		{[]string{"experiment", cfg, "--slurm", "--run", "1"}, "--run and --slurm exclude each other"},
		{[]string{"experiment", cfg, "--slurm", "--sbatch-args=--array=1-3"}, "rl-train writes --array itself"},
		{[]string{"experiment", bad, "--status"}, `slurm.time "soon"`},
		{[]string{"experiment", typo, "--status"}, `variant lora: lora: target_modules entry "attn.qq"`},
	} {
		var stdout, stderr bytes.Buffer
		err := runWith(append(c.args, "--log-level", "warn"), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rl-train %s: error %v, want one containing %q", strings.Join(c.args[2:], " "), err, c.want)
		}
	}
}
