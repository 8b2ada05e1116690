package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/progress"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newCollectCmd) }

// collectConfig configures `rl-train collect` (configs/collect-*.yaml).
type collectConfig struct {
	TaskSet   string                 `yaml:"task_set"`   // task set key, family/name (see `rl-train envs`)
	OutDir    string                 `yaml:"out_dir"`    // directory of the dataset files, <out_dir>/<name>.evds
	Datasets  []collectDatasetConfig `yaml:"datasets"`   // the datasets to write, in order
	Seed      int64                  `yaml:"seed"`       // seeds the environments and the expert noise
	NumEnvs   int                    `yaml:"num_envs"`   // environments stepped in parallel by the vector env
	Workers   int                    `yaml:"workers"`    // worker goroutines of the vector env (0: one per CPU)
	SyncEvery int                    `yaml:"sync_every"` // fsync the file every this many episodes
	Compress  bool                   `yaml:"compress"`   // DEFLATE the arrays of each episode (sparse observations shrink ~25×)
	LogEvery  time.Duration          `yaml:"log_every"`  // interval between progress log lines when stderr is not a terminal
}

// collectDatasetConfig describes one dataset: the expert at one or more noise levels.
type collectDatasetConfig struct {
	Name     string    `yaml:"name"`     // file name without extension: random, medium, expert, mixed, …
	Episodes int       `yaml:"episodes"` // episodes per task, split evenly over the noise levels
	Noise    []float64 `yaml:"noise"`    // expert noise levels in [0, 1] (0 expert, 1 uniform random); several make a mixed dataset
}

func defaultCollectConfig() collectConfig {
	return collectConfig{
		TaskSet: "gridworld/pretrain",
		OutDir:  "data/gridworld",
		Datasets: []collectDatasetConfig{
			{Name: "random", Episodes: 100, Noise: []float64{1}},
			{Name: "medium", Episodes: 100, Noise: []float64{0.5}},
			{Name: "expert", Episodes: 100, Noise: []float64{0}},
			{Name: "mixed", Episodes: 100, Noise: []float64{0, 0.25, 0.5, 0.75, 1}},
		},
		Seed:      0,
		NumEnvs:   8,
		Workers:   0,
		SyncEvery: replay.DefaultSyncEvery,
		LogEvery:  5 * time.Second,
	}
}

func (c collectConfig) validate() error {
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
	case c.LogEvery <= 0:
		return fmt.Errorf("collect: log_every = %v; want a positive duration such as 5s", c.LogEvery)
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

// path is where dataset d is written.
func (c collectConfig) path(d collectDatasetConfig) string {
	return filepath.Join(c.OutDir, d.Name+".evds")
}

func newCollectCmd(a *app) *cobra.Command {
	var outDir string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Run the scripted experts at chosen noise levels over a task set and write datasets",
		Long: `collect runs the scripted expert of every task of a task set on the vector env and
writes one episode file per configured dataset (random, medium, expert, mixed, …) to
<out_dir>/<name>.evds. Each dataset has a number of episodes per task, split evenly
over its noise levels (with probability noise, an action is replaced by a uniform
random one). Episodes are appended as they finish, so an interrupted run keeps every
complete episode. At the end each file is read back and summarised per task.
The file format is described in docs/dataset-format.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultCollectConfig()
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			if outDir != "" {
				cfg.OutDir = outDir
			}
			if err := cfg.validate(); err != nil {
				return err
			}
			return runCollect(cmd.Context(), a, cfg, overwrite)
		},
	}
	cmd.Flags().StringVar(&outDir, "out-dir", "", "write the datasets here instead of the config's out_dir")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace dataset files that already exist (by default they are an error)")
	return cmd
}

func runCollect(ctx context.Context, a *app, cfg collectConfig, overwrite bool) error {
	set, err := envs.LookupTaskSet(cfg.TaskSet)
	if err != nil {
		return fmt.Errorf("collect: task_set: %w", err)
	}
	have := expert.IDs()
	for _, t := range set.Tasks {
		if !slices.Contains(have, t.EnvID) {
			return fmt.Errorf("collect: task %s (%s) has no scripted expert; experts exist for: %s", t.ID, t.EnvID, strings.Join(have, ", "))
		}
	}
	// Check every output before collecting anything, so a run does not fail hours in.
	for _, d := range cfg.Datasets {
		p := cfg.path(d)
		if _, err := os.Stat(p); err == nil {
			if !overwrite {
				return fmt.Errorf("collect: %s exists; pass --overwrite to replace it, or choose another out_dir", p)
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("collect: --overwrite: %w", err)
			}
		}
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return fmt.Errorf("collect: out_dir: %w", err)
	}
	total := 0
	for _, d := range cfg.Datasets {
		total += d.Episodes * len(set.Tasks)
	}
	a.log.WithFields(logrus.Fields{
		"task_set": cfg.TaskSet, "tasks": len(set.Tasks), "datasets": len(cfg.Datasets), "episodes": total,
		"out_dir": cfg.OutDir, "compress": cfg.Compress, "seed": cfg.Seed, "num_envs": cfg.NumEnvs, "workers": cfg.Workers,
	}).Info("collect")

	run := 0 // index of the (dataset, task, noise) block, which picks its seeds
	for _, d := range cfg.Datasets {
		path := cfg.path(d)
		w, err := replay.Create(path, &replay.WriteOptions{SyncEvery: cfg.SyncEvery, Compress: cfg.Compress})
		if err != nil {
			return fmt.Errorf("collect: %w", err)
		}
		start := time.Now()
		prog := progress.New(a.stderr, a.log, d.Name, "episodes", d.Episodes*len(set.Tasks), cfg.LogEvery)
		steps, err := collectDataset(ctx, cfg, d, set, &run, w, prog)
		prog.Finish()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if w.Episodes() == 0 {
				os.Remove(path) // only a header: nothing worth keeping, and it would block a rerun
				return err
			}
			return fmt.Errorf("%w (the %d complete episodes written to %s are kept)", err, w.Episodes(), path)
		}
		ds, err := replay.Open(path, replay.Options{})
		if err != nil {
			return fmt.Errorf("collect: read back: %w", err)
		}
		elapsed := time.Since(start)
		a.log.WithFields(logrus.Fields{
			"dataset": d.Name, "path": path, "episodes": len(ds.Episodes), "transitions": ds.Transitions(),
			"seconds": math.Round(elapsed.Seconds()*1000) / 1000, "steps_per_s": int(float64(steps) / elapsed.Seconds()),
		}).Info("dataset written")
		if err := printCollectSummary(a.stdout, d, ds); err != nil {
			return err
		}
	}
	return nil
}

// collectDataset writes d.Episodes episodes of every task of set to w, split over
// the noise levels: level j gets (Episodes+j)/levels of them.
func collectDataset(ctx context.Context, cfg collectConfig, d collectDatasetConfig, set envs.TaskSet, run *int, w *replay.Writer, prog progress.Reporter) (int, error) {
	steps := 0
	for _, task := range set.Tasks {
		for j, noise := range d.Noise {
			n := (d.Episodes + j) / len(d.Noise)
			prog.Describe(fmt.Sprintf("%s %s noise=%g", d.Name, task.ID, noise))
			s, err := collectBlock(ctx, cfg, *run, task, noise, n, w, prog)
			steps += s
			*run++
			if err != nil {
				return steps, fmt.Errorf("collect: dataset %s, task %s, noise %g: %w", d.Name, task.ID, noise, err)
			}
		}
	}
	return steps, nil
}

// collectBlock records episodes episodes of the expert at noise on task, on up to
// cfg.NumEnvs environments of a vector env, writing each to w as it finishes. Each
// environment contributes a fixed share, (episodes+i)/n for environment i, so that
// environments whose episodes end sooner do not over-represent short episodes.
// Environment i of block run is reset with seed Seed + run·NumEnvs + i, so every
// block of a run starts from different seeds; later episodes continue each
// environment's random stream (their Seed is envs.NoSeed).
func collectBlock(ctx context.Context, cfg collectConfig, run int, task envs.Task, noise float64, episodes int, w *replay.Writer, prog progress.Reporter) (int, error) {
	n := min(cfg.NumEnvs, episodes)
	list := make([]envs.Env, n)
	for i := range list {
		env, err := task.Make()
		if err != nil {
			return 0, err
		}
		list[i] = env
	}
	vec, err := envs.NewVector(list, cfg.Workers)
	if err != nil {
		return 0, err
	}
	defer vec.Close()
	source := fmt.Sprintf("expert noise=%g", noise)
	policies := make([]expert.Policy, n)
	recs := make([]*replay.Recorder, n)
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(run)<<20|uint64(i)))
		if policies[i], err = expert.New(task.EnvID, vec.Env(i), noise, rng); err != nil {
			return 0, err
		}
		recs[i] = replay.NewRecorder(vec.Env(i), task)
		recs[i].Source = source
		// The vector env resets within Step, before the final state could be read.
		recs[i].RecordStates = false
	}
	seed := cfg.Seed + int64(run)*int64(cfg.NumEnvs)
	obs, err := vec.Reset(seed)
	if err != nil {
		return 0, err
	}
	od, ad := vec.ObsDim(), vec.ActDim()
	quota := make([]int, n)
	for i := range n {
		quota[i] = (episodes + i) / n
		if err := policies[i].Reset(); err != nil {
			return 0, fmt.Errorf("expert reset: %w", err)
		}
		if err := recs[i].Begin(seed+int64(i), obs[i*od:(i+1)*od]); err != nil {
			return 0, err
		}
	}
	count := make([]int, n)
	actions := make([]float64, n*ad)
	steps, written := 0, 0
	for written < episodes {
		if err := ctx.Err(); err != nil {
			return steps, err
		}
		for i, p := range policies {
			if err := p.Act(obs[i*od:(i+1)*od], actions[i*ad:(i+1)*ad]); err != nil {
				return steps, fmt.Errorf("env %d: expert: %w", i, err)
			}
		}
		out, err := vec.Step(actions)
		if err != nil {
			return steps, err
		}
		obs = out.Obs
		for i := range n {
			done := out.Terminated[i] || out.Truncated[i]
			if count[i] < quota[i] {
				last := out.Obs[i*od : (i+1)*od]
				if done {
					last = out.FinalObs[i*od : (i+1)*od]
				}
				tr := envs.Transition{Obs: last, Reward: out.Rewards[i], Terminated: out.Terminated[i], Truncated: out.Truncated[i], Info: out.Infos[i]}
				if err := recs[i].Step(actions[i*ad:(i+1)*ad], tr); err != nil {
					return steps, err
				}
				steps++
				if done {
					if err := w.Write(recs[i].End()); err != nil {
						return steps, err
					}
					count[i]++
					written++
					prog.Add(1, nil)
					if count[i] < quota[i] {
						if err := recs[i].Begin(envs.NoSeed, out.Obs[i*od:(i+1)*od]); err != nil {
							return steps, err
						}
					}
				}
			}
			if done {
				if err := policies[i].Reset(); err != nil {
					return steps, fmt.Errorf("expert reset: %w", err)
				}
			}
		}
	}
	return steps, nil
}

// printCollectSummary prints the per-task table of a dataset read back from its file.
func printCollectSummary(out io.Writer, d collectDatasetConfig, ds *replay.Dataset) error {
	st, err := os.Stat(ds.Path)
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	noise := make([]string, len(d.Noise))
	for i, n := range d.Noise {
		noise[i] = fmt.Sprint(n)
	}
	fmt.Fprintf(out, "\nDataset %s (noise %s): %s, %d episodes, %d transitions, %.1f MB\n\n",
		d.Name, strings.Join(noise, ", "), ds.Path, len(ds.Episodes), ds.Transitions(), float64(st.Size())/1e6)
	return writeTaskStats(out, ds.TaskStats())
}
