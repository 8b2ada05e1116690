package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/internal/progress"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newCollectCmd) }

// collectFile is a `rl-train collect` config (configs/collect-*.yaml).
type collectFile struct {
	collect.Config `yaml:",inline"`
	// LogEvery is the interval between progress log lines when stderr is not a
	// terminal (a progress bar otherwise).
	LogEvery time.Duration `yaml:"log_every"`
}

func defaultCollectFile() collectFile {
	return collectFile{Config: collect.DefaultConfig(), LogEvery: 5 * time.Second}
}

func newCollectCmd(a *app) *cobra.Command {
	var outDir string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Run the scripted experts at chosen noise levels over a task set and write datasets",
		Long: `collect runs the scripted expert of every task of a task set and writes one episode
file per configured dataset (random, medium, expert, mixed, …) to <out_dir>/<name>.evds.
Each dataset has a number of episodes per task, split evenly over its noise levels
(with probability noise, an action is replaced by a uniform random one); episodes
reset with consecutive seeds from seed. Episodes are appended as they finish, so an
interrupted run keeps every complete episode. At the end each file is read back and
summarised per task. The file format is described in docs/dataset-format.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultCollectFile()
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			if outDir != "" {
				cfg.OutDir = outDir
			}
			return runCollect(cmd.Context(), a, cfg, overwrite)
		},
	}
	cmd.Flags().StringVar(&outDir, "out-dir", "", "write the datasets here instead of the config's out_dir")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace dataset files that already exist (by default they are an error)")
	return cmd
}

func runCollect(ctx context.Context, a *app, cfg collectFile, overwrite bool) error {
	if cfg.LogEvery <= 0 {
		return fmt.Errorf("collect: log_every = %v; want a positive duration such as 5s", cfg.LogEvery)
	}
	a.log.WithField("task_set", cfg.TaskSet).WithField("out_dir", cfg.OutDir).WithField("seed", cfg.Seed).Info("collect")
	var bar progress.Reporter
	current := ""
	start := time.Now()
	opts := collect.Options{Overwrite: overwrite, Progress: func(name string, done, total int, what string) {
		if name != current {
			if bar != nil {
				bar.Finish()
			}
			bar, current = progress.New(a.stderr, a.log, name, "episodes", total, cfg.LogEvery), name
		}
		bar.Describe(what)
		bar.Add(1, nil)
	}}
	sets, err := collect.Collect(ctx, cfg.Config, opts)
	if errors.Is(err, collect.ErrExists) {
		err = fmt.Errorf("%w (rl-train: pass --overwrite to replace it)", err)
	}
	if bar != nil {
		bar.Finish()
	}
	for i, ds := range sets {
		if err := printDataset(a.stdout, cfg.Datasets[i], ds); err != nil {
			return err
		}
	}
	if err == nil {
		a.log.WithField("seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds())).Info("collect done")
	}
	return err
}

// printDataset prints the per-task table of a dataset read back from its file.
func printDataset(out io.Writer, d collect.Dataset, ds *replay.Dataset) error {
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

// writeTaskStats prints one row per task: episodes, transitions, return statistics
// and success rate.
func writeTaskStats(out io.Writer, stats []replay.TaskStats) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tENV\tEPISODES\tTRANSITIONS\tRETURN MEAN\tRETURN STD\tRETURN MIN\tRETURN MAX\tSUCCESS")
	for _, s := range stats {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f%%\n", s.Task, s.EnvID, s.Episodes, s.Transitions,
			s.ReturnMean, s.ReturnStd, s.ReturnMin, s.ReturnMax, 100*s.SuccessRate)
	}
	return w.Flush()
}
