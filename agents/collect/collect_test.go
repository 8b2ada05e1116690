package collect

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/replay"
)

// An interrupted collection keeps every complete episode in the file, says how many,
// and the file reads back whole.
func TestCollectInterrupted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TaskSet, cfg.NumEnvs, cfg.Workers, cfg.OutDir = "cartpole/heldout", 4, 2, t.TempDir()
	cfg.Datasets = []Dataset{{Name: "expert", Episodes: 50, Noise: []float64{0}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{Progress: func(_ string, done, _ int, _ string) {
		if done == 5 {
			cancel()
		}
	}}
	_, err := Collect(ctx, cfg, opts)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "complete episodes written") {
		t.Fatalf("error %v, want context.Canceled with the count of episodes kept", err)
	}
	ds, err := replay.Open(filepath.Join(cfg.OutDir, "expert.evds"), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Episodes are written in index order as soon as their predecessors are, so the
	// file holds a prefix: at least the 5 before the cancellation.
	if len(ds.Episodes) < 5 || len(ds.Episodes) > 5+cfg.NumEnvs {
		t.Errorf("file holds %d episodes, want 5 to %d", len(ds.Episodes), 5+cfg.NumEnvs)
	}
	for i, ep := range ds.Episodes {
		if ep.Seed != cfg.Seed+int64(i) {
			t.Errorf("episode %d resets with seed %d, want %d (consecutive seeds in index order)", i, ep.Seed, cfg.Seed+int64(i))
		}
	}
}

// Collections are deterministic and do not depend on how many environments run them.
func TestEpisodesIndependentOfNumEnvs(t *testing.T) {
	cfg := DefaultConfig()
	_ = cfg
	run := func(n int) []*replay.Episode {
		tasks := mustTasks(t, "gridworld/heldout")[:2]
		eps, err := Episodes(context.Background(), tasks, 6, 0.5, 11, n)
		if err != nil {
			t.Fatal(err)
		}
		return eps
	}
	a, b := run(1), run(4)
	if len(a) != len(b) {
		t.Fatalf("%d and %d episodes", len(a), len(b))
	}
	for i := range a {
		if a[i].Seed != b[i].Seed || a[i].Return() != b[i].Return() || a[i].Len() != b[i].Len() {
			t.Errorf("episode %d differs with 1 and 4 environments", i)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Datasets[0].Noise = []float64{1.5} }, "noise level 1.5"},
		{func(c *Config) { c.Datasets[1].Name = c.Datasets[0].Name }, "appears twice"},
		{func(c *Config) { c.Seed = -1 }, "seed = -1"},
		{func(c *Config) { c.Datasets[0].Episodes = maxEpisodes + 1 }, "at most"},
	} {
		cfg := DefaultConfig()
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
	// Seeds must stay below the validation stream.
	cfg := DefaultConfig()
	cfg.Seed, cfg.OutDir = 999_999_990, t.TempDir()
	if _, err := Collect(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("collect seeds reaching the validation stream: %v", err)
	}
}

func mustTasks(t *testing.T, key string) []envs.Task {
	t.Helper()
	set, err := envs.LookupTaskSet(key)
	if err != nil {
		t.Fatal(err)
	}
	return set.Tasks
}
