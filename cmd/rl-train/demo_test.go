package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

// demoNoExpertEnv is registered only in tests: an environment family whose task set
// has no scripted expert, so the demo must refuse it with a clear error.
func init() {
	envs.Register(envs.Spec{
		ID:              "DemoNoExpert-v0",
		Family:          "demotest",
		MaxEpisodeSteps: 10,
		New: func(opts envs.Options) (envs.Env, error) {
			e, err := gridworld.New(opts) // any working env will do; it just has no expert
			if err != nil {
				return nil, err
			}
			return e, nil
		},
	})
	envs.RegisterTaskSet(envs.TaskSet{Family: "demotest", Name: "noexpert", Tasks: []envs.Task{{ID: "demotest/a", EnvID: "DemoNoExpert-v0"}}})
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDemoSmoke(t *testing.T) {
	path := writeConfig(t, "task_set: gridworld/heldout\nepisodes: 3\nnoise: 0\nseed: 1\nnum_envs: 2\nworkers: 2\nlog_every: 1ms\n")
	var stdout, stderr bytes.Buffer
	if err := runWith([]string{"demo", "--config", path, "--log-format", "json"}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	set, _ := envs.LookupTaskSet("gridworld/heldout")
	for _, task := range set.Tasks {
		var row string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, task.ID+" ") {
				row = line
			}
		}
		// The BFS expert solves every held-out task, permuted actions included.
		if !strings.Contains(row, " 3 ") || !strings.Contains(row, "100.0%") {
			t.Errorf("row for %s = %q, want 3 episodes at 100.0%% success", task.ID, row)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("Summary: %d tasks, %d episodes", len(set.Tasks), 3*len(set.Tasks))) || !strings.Contains(out, "success 100.0%") {
		t.Errorf("summary missing or wrong in:\n%s", out)
	}
	if !strings.Contains(stderr.String(), `"msg":"task done"`) || !strings.Contains(stderr.String(), `"task":"gridworld/heldout-11"`) {
		t.Errorf("no structured task log lines in stderr:\n%s", stderr.String())
	}
}

func TestDemoDeterministic(t *testing.T) {
	run := func(workers string) string {
		path := writeConfig(t, "task_set: gridworld/pretrain\nepisodes: 4\nnoise: 0.3\nseed: 5\nnum_envs: 3\nworkers: "+workers+"\n")
		var stdout, stderr bytes.Buffer
		args := []string{"demo", "--config", path}
		if err := runWith(args, &stdout, &stderr); err != nil {
			t.Fatalf("demo: %v", err)
		}
		table, _, _ := strings.Cut(stdout.String(), "\nSummary")
		return table
	}
	a, b := run("1"), run("2")
	if a != b {
		t.Errorf("noisy demo runs with the same seed on 1 and 2 workers differ:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "gridworld/pretrain-35") || strings.Count(a, "100.0%") == 36 {
		t.Errorf("want all 36 pretrain tasks, and noise 0.3 to fail some episodes:\n%s", a)
	}
}

func TestDemoFlagsOverrideConfig(t *testing.T) {
	path := writeConfig(t, "task_set: gridworld/heldout\nepisodes: 5\n")
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--config", path, "--task-set", "gridworld/pretrain", "--episodes", "2", "--num-envs", "2"}
	if err := runWith(args, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v", err)
	}
	if out := stdout.String(); !strings.Contains(out, "Summary: 36 tasks, 72 episodes") {
		t.Errorf("flags did not override the config:\n%s", out)
	}
	if err := runWith([]string{"demo", "--noise", "-1"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "noise = -1") {
		t.Errorf("--noise -1: err = %v", err)
	}
}

func TestDemoBadConfig(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{"task_set: gridworld/nope\n", `unknown task set "gridworld/nope"`},
		{"task_set: demotest/noexpert\n", "task demotest/a (DemoNoExpert-v0) has no scripted expert"},
		{"episodes: 0\n", "episodes = 0"},
		{"noise: 1.5\n", "noise = 1.5"},
		{"num_envs: 0\n", "num_envs = 0"},
		{"log_every: 0s\n", "log_every"},
		{"episode: 3\n", "episode"},
	} {
		var stdout, stderr bytes.Buffer
		err := runWith([]string{"demo", "--config", writeConfig(t, tc.config)}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: err = %v, want one containing %q", tc.config, err, tc.want)
		}
	}
}
