package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/replay"
)

func writeCollectConfig(t *testing.T, outDir, extra string) string {
	t.Helper()
	text := fmt.Sprintf(`task_set: gridworld/heldout
out_dir: %s
seed: 3
num_envs: 2
workers: 2
log_every: 1ms
compress: true
datasets:
  - {name: expert, episodes: 2, noise: [0]}
  - {name: mixed, episodes: 3, noise: [0, 1]}
%s`, outDir, extra)
	path := filepath.Join(t.TempDir(), "collect.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCollectCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runWith(append([]string{"collect", "--log-format", "json"}, args...), &stdout, &stderr)
	if err != nil {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return stdout.String(), err
}

func TestCollectSmoke(t *testing.T) {
	out := t.TempDir()
	cfg := writeCollectConfig(t, out, "")
	stdout, err := runCollectCmd(t, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := envs.LookupTaskSet("gridworld/heldout")

	expertData, err := replay.Open(filepath.Join(out, "expert.evds"), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stats := expertData.TaskStats()
	if len(stats) != len(set.Tasks) {
		t.Fatalf("expert dataset covers %d tasks, want %d", len(stats), len(set.Tasks))
	}
	for _, s := range stats {
		// The BFS expert solves every held-out gridworld task.
		if s.Episodes != 2 || s.SuccessRate != 1 {
			t.Errorf("expert %s: %d episodes, success %v; want 2 at 100%%", s.Task, s.Episodes, s.SuccessRate)
		}
		if !strings.Contains(stdout, s.Task+" ") {
			t.Errorf("summary lacks a row for %s", s.Task)
		}
	}
	for _, ep := range expertData.Episodes {
		if ep.Source != "expert noise=0" || ep.TaskID == "" || !(ep.Terminated || ep.Truncated) {
			t.Fatalf("episode source %q task %q terminated %v truncated %v", ep.Source, ep.TaskID, ep.Terminated, ep.Truncated)
		}
	}

	// Episodes that start from a known seed replay exactly: the recorded actions give
	// the recorded observations, rewards and ending (this checks how collection reads
	// the vector env's automatic resets).
	replayed := 0
	for _, ep := range expertData.Episodes {
		if ep.Seed == envs.NoSeed {
			continue
		}
		replayed++
		checkReplays(t, set, ep)
	}
	if replayed != 2*len(set.Tasks) { // 2 environments per task, each with one seeded episode
		t.Errorf("%d episodes with a seed, want %d", replayed, 2*len(set.Tasks))
	}

	mixed, err := replay.Open(filepath.Join(out, "mixed.evds"), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 3 episodes per task over 2 levels: (3+0)/2 = 1 expert, (3+1)/2 = 2 random.
	bySource := map[string]int{}
	for _, ep := range mixed.Episodes {
		bySource[ep.Source]++
	}
	if n := len(set.Tasks); bySource["expert noise=0"] != n || bySource["expert noise=1"] != 2*n {
		t.Errorf("mixed dataset sources %v, want %d expert and %d random", bySource, n, 2*n)
	}
	if !strings.Contains(stdout, "Dataset mixed (noise 0, 1)") {
		t.Errorf("summary lacks the mixed dataset header:\n%s", stdout)
	}

	// The same config gives the same bytes (seeded, independent of scheduling).
	again := t.TempDir()
	if _, err := runCollectCmd(t, "--config", cfg, "--out-dir", again); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"expert.evds", "mixed.evds"} {
		a, _ := os.ReadFile(filepath.Join(out, name))
		b, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}

	// An existing dataset is never replaced silently.
	before, _ := os.ReadFile(filepath.Join(out, "expert.evds"))
	if _, err := runCollectCmd(t, "--config", cfg); err == nil || !strings.Contains(err.Error(), "pass --overwrite") {
		t.Errorf("second run into the same directory: %v, want an error about --overwrite", err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "expert.evds")); !bytes.Equal(before, after) {
		t.Error("a refused run changed an existing dataset")
	}
	if _, err := runCollectCmd(t, "--config", cfg, "--overwrite"); err != nil {
		t.Errorf("--overwrite: %v", err)
	}
}

func checkReplays(t *testing.T, set envs.TaskSet, ep *replay.Episode) {
	t.Helper()
	var task envs.Task
	for _, tk := range set.Tasks {
		if tk.ID == ep.TaskID {
			task = tk
		}
	}
	env, err := task.Make()
	if err != nil {
		t.Fatal(err)
	}
	obs, _, err := env.Reset(ep.Seed)
	if err != nil {
		t.Fatal(err)
	}
	same := func(step int, got []float64) {
		for j, v := range got {
			if float32(v) != ep.Obs(step)[j] {
				t.Fatalf("%s seed %d: observation %d differs at %d: %v vs %v", ep.TaskID, ep.Seed, step, j, v, ep.Obs(step)[j])
			}
		}
	}
	same(0, obs)
	var tr envs.Transition
	for step := 0; step < ep.Len(); step++ {
		a := ep.Action(step)
		if tr, err = env.Step([]float64{float64(a[0])}); err != nil {
			t.Fatal(err)
		}
		same(step+1, tr.Obs)
		if float32(tr.Reward) != ep.Rewards[step] {
			t.Fatalf("%s: reward %d = %v, recorded %v", ep.TaskID, step, tr.Reward, ep.Rewards[step])
		}
	}
	if tr.Terminated != ep.Terminated || tr.Truncated != ep.Truncated {
		t.Fatalf("%s: ends terminated=%v truncated=%v, recorded %v %v", ep.TaskID, tr.Terminated, tr.Truncated, ep.Terminated, ep.Truncated)
	}
}

func TestCollectBadConfig(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		name, extra, want string
	}{
		{"noise out of range", "  - {name: bad, episodes: 2, noise: [1.5]}\n", "noise level 1.5"},
		{"duplicate name", "  - {name: expert, episodes: 2, noise: [0]}\n", `"expert" appears twice`},
		{"path in name", "  - {name: ../x, episodes: 2, noise: [0]}\n", "plain file name"},
		{"too few episodes", "  - {name: few, episodes: 1, noise: [0, 1]}\n", "at least one per noise level"},
		{"unknown key", "  - {name: typo, episodes: 2, noise: [0], nosie: 1}\n", "nosie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCollectCmd(t, "--config", writeCollectConfig(t, out, tt.extra))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 0 {
		t.Errorf("a rejected config wrote %d files", len(entries))
	}
}

// TestCollectConfigs checks that every shipped collect config loads strictly,
// validates, names a registered task set with experts, and writes distinct files.
func TestCollectConfigs(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "collect-*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no configs/collect-*.yaml found (%v)", err)
	}
	outDirs := map[string]string{}
	for _, p := range paths {
		cfg := defaultCollectFile()
		if err := config.Load(p, &cfg); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		set, err := envs.LookupTaskSet(cfg.TaskSet)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for _, task := range set.Tasks {
			if !slices.Contains(expert.IDs(), task.EnvID) {
				t.Errorf("%s: task %s has no expert", p, task.ID)
			}
		}
		if other, dup := outDirs[cfg.OutDir]; dup {
			t.Errorf("%s and %s both write to %s", p, other, cfg.OutDir)
		}
		outDirs[cfg.OutDir] = p
	}
}
