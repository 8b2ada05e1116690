// Package collect records datasets: the scripted experts of a task set acting at
// chosen noise levels (0 expert, 1 uniformly random, levels between for "medium"
// data), run by the shared episode loop (agents.Rollout) and written episode by
// episode to replay's episode files. It is the library behind `rl-train collect`.
//
// Seeds: the episodes of one collection reset with consecutive seeds from
// Config.Seed, dataset by dataset, task by task, noise level by noise level, so no
// two episodes of a collection start alike and every one can be replayed from its
// seed. They all stay below agents.ValidationSeeds, so training data never starts
// where a validation or test episode does.
package collect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/replay"
)

// Config configures a collection (configs/collect-*.yaml).
type Config struct {
	// TaskSet is the task set key, family/name (see `rl-train envs`).
	TaskSet string `yaml:"task_set"`
	// OutDir holds the dataset files, <out_dir>/<name>.evds.
	OutDir string `yaml:"out_dir"`
	// Datasets are the datasets to write, in order.
	Datasets []Dataset `yaml:"datasets"`
	// Seed is the reset seed of the first episode; the others follow it.
	Seed int64 `yaml:"seed"`
	// NumEnvs is the number of environments acted on at once.
	NumEnvs int `yaml:"num_envs"`
	// Workers is the number of goroutines the experts act on (0: one per CPU).
	Workers int `yaml:"workers"`
	// SyncEvery fsyncs each file every this many episodes.
	SyncEvery int `yaml:"sync_every"`
	// Compress DEFLATEs the arrays of each episode (sparse observations shrink ~25×).
	Compress bool `yaml:"compress"`
}

// Dataset describes one dataset: the expert at one or more noise levels.
type Dataset struct {
	// Name is the file name without extension: random, medium, expert, mixed, …
	Name string `yaml:"name"`
	// Episodes is the number of episodes per task, split evenly over the levels.
	Episodes int `yaml:"episodes"`
	// Noise lists expert noise levels in [0, 1]; several make a mixed dataset.
	Noise []float64 `yaml:"noise"`
}

// DefaultConfig collects random, medium, expert and mixed gridworld pretraining
// data, 100 episodes per task each.
func DefaultConfig() Config {
	return Config{
		TaskSet: "gridworld/pretrain",
		OutDir:  "data/gridworld",
		Datasets: []Dataset{
			{Name: "random", Episodes: 100, Noise: []float64{1}},
			{Name: "medium", Episodes: 100, Noise: []float64{0.5}},
			{Name: "expert", Episodes: 100, Noise: []float64{0}},
			{Name: "mixed", Episodes: 100, Noise: []float64{0, 0.25, 0.5, 0.75, 1}},
		},
		NumEnvs:   8,
		SyncEvery: replay.DefaultSyncEvery,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.TaskSet == "":
		return fmt.Errorf("collect: task_set is empty; want a task set such as gridworld/pretrain (see rl-train envs)")
	case c.OutDir == "":
		return fmt.Errorf("collect: out_dir is empty; want the directory to write the datasets to")
	case len(c.Datasets) == 0:
		return fmt.Errorf("collect: datasets is empty; want at least one {name, episodes, noise}")
	case c.Seed < 0:
		return fmt.Errorf("collect: seed = %d; want ≥ 0", c.Seed)
	case c.NumEnvs < 1:
		return fmt.Errorf("collect: num_envs = %d; want ≥ 1", c.NumEnvs)
	case c.Workers < 0:
		return fmt.Errorf("collect: workers = %d; want ≥ 0 (0: one per CPU)", c.Workers)
	case c.SyncEvery < 1:
		return fmt.Errorf("collect: sync_every = %d; want ≥ 1 episode", c.SyncEvery)
	}
	seen := map[string]bool{}
	for i, d := range c.Datasets {
		switch {
		case d.Name == "" || strings.ContainsAny(d.Name, `/\`) || d.Name == "." || d.Name == "..":
			return fmt.Errorf("collect: datasets[%d].name = %q; want a plain file name such as expert", i, d.Name)
		case seen[d.Name]:
			return fmt.Errorf("collect: datasets[%d].name = %q appears twice", i, d.Name)
		case len(d.Noise) == 0:
			return fmt.Errorf("collect: datasets[%d] (%s): noise is empty; want levels in [0, 1], e.g. [0] for expert data", i, d.Name)
		case d.Episodes < len(d.Noise):
			return fmt.Errorf("collect: datasets[%d] (%s): episodes = %d; want at least one per noise level (%d)", i, d.Name, d.Episodes, len(d.Noise))
		case d.Episodes > maxEpisodes:
			return fmt.Errorf("collect: datasets[%d] (%s): episodes = %d; want at most %d per task", i, d.Name, d.Episodes, maxEpisodes)
		}
		for _, n := range d.Noise {
			if !(n >= 0 && n <= 1) {
				return fmt.Errorf("collect: datasets[%d] (%s): noise level %v; want a number in [0, 1]", i, d.Name, n)
			}
		}
		seen[d.Name] = true
	}
	return nil
}

// ErrExists is returned (wrapped) when a dataset file exists and Options.Overwrite
// is not set: a collection never replaces data without being asked to.
var ErrExists = errors.New("the dataset file exists")

// maxEpisodes bounds a dataset's episodes per task, so that seeds stay in the
// training range whatever the config says.
const maxEpisodes = 10_000_000

// Path is where dataset d is written.
func (c Config) Path(d Dataset) string { return filepath.Join(c.OutDir, d.Name+".evds") }

// Options carries what a collection needs besides its Config.
type Options struct {
	// Overwrite replaces dataset files that exist; without it they are an error,
	// before anything is collected.
	Overwrite bool
	// Progress, when set, is told after each episode how many of the current
	// dataset's episodes are written, of how many, and what is being collected.
	Progress func(dataset string, done, total int, what string)
}

// Collect writes every dataset of cfg. Episodes are appended to their file as they
// finish, so an interrupted collection keeps every complete episode (the error says
// how many). It returns the datasets as read back from their files.
func Collect(ctx context.Context, cfg Config, opts Options) ([]*replay.Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set, err := envs.LookupTaskSet(cfg.TaskSet)
	if err != nil {
		return nil, fmt.Errorf("collect: task_set: %w", err)
	}
	for _, t := range set.Tasks {
		if !expert.Has(t.EnvID) {
			return nil, fmt.Errorf("collect: task %s (%s) has no scripted expert; experts exist for: %s", t.ID, t.EnvID, strings.Join(expert.IDs(), ", "))
		}
	}
	total := int64(0)
	for _, d := range cfg.Datasets {
		total += int64(d.Episodes) * int64(len(set.Tasks))
	}
	seeds := agents.SeedRange{Name: "collect seeds (seed + episodes)", First: cfg.Seed, Count: total}
	if err := agents.CheckSeedRanges(seeds, agents.SeedRange{Name: "validation and test seeds", First: agents.ValidationSeeds, Count: 1 << 62}); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	// Check every output before collecting anything, so a run does not fail hours in.
	for _, d := range cfg.Datasets {
		p := cfg.Path(d)
		if _, err := os.Stat(p); err == nil {
			if !opts.Overwrite {
				return nil, fmt.Errorf("collect: %s: %w; overwrite it (Options.Overwrite), or choose another out_dir", p, ErrExists)
			}
			if err := os.Remove(p); err != nil {
				return nil, fmt.Errorf("collect: overwrite: %w", err)
			}
		}
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("collect: out_dir: %w", err)
	}
	seed := cfg.Seed
	var out []*replay.Dataset
	for _, d := range cfg.Datasets {
		ds, err := collectDataset(ctx, cfg, d, set, &seed, opts)
		if err != nil {
			return out, err
		}
		out = append(out, ds)
	}
	return out, nil
}

// collectDataset writes one dataset: per task and noise level j, (Episodes+j)/levels
// episodes.
func collectDataset(ctx context.Context, cfg Config, d Dataset, set envs.TaskSet, seed *int64, opts Options) (*replay.Dataset, error) {
	path := cfg.Path(d)
	w, err := replay.Create(path, &replay.WriteOptions{SyncEvery: cfg.SyncEvery, Compress: cfg.Compress})
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	total, done := d.Episodes*len(set.Tasks), 0
	err = func() error {
		for _, task := range set.Tasks {
			for j, noise := range d.Noise {
				n := (d.Episodes + j) / len(d.Noise)
				what := fmt.Sprintf("%s noise=%g", task.ID, noise)
				sink := func(ep *replay.Episode) error {
					if err := w.Write(ep); err != nil {
						return err
					}
					done++
					if opts.Progress != nil {
						opts.Progress(d.Name, done, total, what)
					}
					return nil
				}
				if err := run(ctx, task, n, noise, *seed, cfg, sink); err != nil {
					return fmt.Errorf("collect: dataset %s, task %s, noise %g: %w", d.Name, task.ID, noise, err)
				}
				*seed += int64(n)
			}
		}
		return nil
	}()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if w.Episodes() == 0 {
			os.Remove(path) // only a header: nothing worth keeping, and it would block a rerun
			return nil, err
		}
		return nil, fmt.Errorf("%w (the %d complete episodes written to %s are kept)", err, w.Episodes(), path)
	}
	ds, err := replay.Open(path, replay.Options{})
	if err != nil {
		return nil, fmt.Errorf("collect: read back: %w", err)
	}
	return ds, nil
}

// run records n episodes of the expert at noise on task, episode j resetting with
// seed+j, handing each to sink in index order.
func run(ctx context.Context, task envs.Task, n int, noise float64, seed int64, cfg Config, sink func(*replay.Episode) error) error {
	actor, err := expert.NewActor(min(cfg.NumEnvs, max(n, 1)), noise, uint64(cfg.Seed))
	if err != nil {
		return err
	}
	actor.Workers = cfg.Workers
	source := fmt.Sprintf("expert noise=%g", noise)
	// Episodes finish out of order; they are written in index order, so a file's
	// content does not depend on NumEnvs.
	pending := map[int]*replay.Episode{}
	next := 0
	q := []agents.Quota{{Task: task, Episodes: n, Seed: seed}}
	return agents.Rollout(ctx, actor, q, agents.RolloutConfig{Record: true, RecordStates: false, Source: source}, func(ep agents.Episode) error {
		pending[ep.Index] = ep.Recording
		for pending[next] != nil {
			if err := sink(pending[next]); err != nil {
				return err
			}
			delete(pending, next)
			next++
		}
		return nil
	})
}

// Episodes runs the expert at noise on each task for n episodes (episode j of task k
// resetting with seed + k·n + j) on numEnvs environments and returns them in memory,
// in task and index order: a dataset without a file, for tests and examples.
func Episodes(ctx context.Context, tasks []envs.Task, n int, noise float64, seed int64, numEnvs int) ([]*replay.Episode, error) {
	if n < 1 || numEnvs < 1 {
		return nil, errors.New("collect: episodes and num_envs must be ≥ 1")
	}
	var out []*replay.Episode
	cfg := Config{NumEnvs: numEnvs, Seed: seed}
	for k, task := range tasks {
		err := run(ctx, task, n, noise, seed+int64(k*n), cfg, func(ep *replay.Episode) error {
			out = append(out, ep)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("collect: %s: %w", task.ID, err)
		}
	}
	return out, nil
}
