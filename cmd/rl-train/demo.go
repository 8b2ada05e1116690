package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/progress"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

// demoConfig configures `rl-train demo` (configs/demo.yaml).
type demoConfig struct {
	TaskSet  string        `yaml:"task_set"`  // task set key, family/name (see `rl-train envs`)
	Episodes int           `yaml:"episodes"`  // episodes per task
	Noise    float64       `yaml:"noise"`     // expert noise in [0, 1]: 0 expert, 1 uniform random actions
	Seed     int64         `yaml:"seed"`      // episode j of every task resets with seed+j; also seeds the noise
	NumEnvs  int           `yaml:"num_envs"`  // environments acted on at once
	Workers  int           `yaml:"workers"`   // goroutines the experts act on (0: one per CPU)
	LogEvery time.Duration `yaml:"log_every"` // interval between progress log lines (a progress bar on a terminal)
}

func newDemoCmd(a *app) *cobra.Command {
	var flags demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the scripted experts on a task set and print a per-task table",
		Long: `demo runs the scripted expert of every task in a task set, at a noise level, on
num_envs environments at once (the episode loop evaluation uses), and prints the mean
return, success rate and episode length of each task and of the whole set.
Success is Info.Success, or for environments without one a return at or above the
registered reward threshold. Flags override the config file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := demoConfig{TaskSet: "gridworld/heldout", Episodes: 20, NumEnvs: 8, LogEvery: 2 * time.Second}
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			applyFlags(cmd.Flags(), &cfg, &flags)
			return runDemo(cmd.Context(), a, cfg)
		},
	}
	cmd.Flags().StringVar(&flags.TaskSet, "task-set", "", "task set, family/name (overrides task_set)")
	cmd.Flags().IntVar(&flags.Episodes, "episodes", 0, "episodes per task (overrides episodes)")
	cmd.Flags().Float64Var(&flags.Noise, "noise", 0, "expert noise in [0, 1] (overrides noise)")
	cmd.Flags().IntVar(&flags.NumEnvs, "num-envs", 0, "environments acted on at once (overrides num_envs)")
	return cmd
}

func runDemo(ctx context.Context, a *app, cfg demoConfig) error {
	switch {
	case cfg.Episodes < 1:
		return fmt.Errorf("demo: episodes = %d; want ≥ 1", cfg.Episodes)
	case cfg.Seed < 0:
		return fmt.Errorf("demo: seed = %d; want ≥ 0", cfg.Seed)
	case cfg.NumEnvs < 1:
		return fmt.Errorf("demo: num_envs = %d; want ≥ 1", cfg.NumEnvs)
	case !(cfg.Noise >= 0 && cfg.Noise <= 1):
		return fmt.Errorf("demo: noise = %v; want a number in [0, 1]", cfg.Noise)
	case cfg.Workers < 0:
		return fmt.Errorf("demo: workers = %d; want ≥ 0 (0: one per CPU)", cfg.Workers)
	case cfg.LogEvery <= 0:
		return fmt.Errorf("demo: log_every = %v; want a positive duration such as 2s", cfg.LogEvery)
	}
	set, err := envs.LookupTaskSet(cfg.TaskSet)
	if err != nil {
		return fmt.Errorf("demo: task_set: %w", err)
	}
	for _, t := range set.Tasks {
		if !expert.Has(t.EnvID) {
			return fmt.Errorf("demo: task %s (%s) has no scripted expert; experts exist for: %s", t.ID, t.EnvID, strings.Join(expert.IDs(), ", "))
		}
	}
	actor, err := expert.NewActor(min(cfg.NumEnvs, cfg.Episodes*len(set.Tasks)), cfg.Noise, uint64(cfg.Seed))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	actor.Workers = cfg.Workers
	start := time.Now()
	bar := progress.New(a.stderr, a.log, "demo", "episodes", cfg.Episodes*len(set.Tasks), cfg.LogEvery)
	perTask := map[string]int{}
	ec := agents.EvalConfig{Episodes: cfg.Episodes, Targets: []float64{0}, NumEnvs: cfg.NumEnvs, Seed: cfg.Seed,
		Progress: func(_, _ int, task string) {
			bar.Add(1, nil)
			if perTask[task]++; perTask[task] == cfg.Episodes {
				a.log.WithFields(logrus.Fields{"task": task, "episodes": cfg.Episodes}).Info("task done")
			}
		}}
	res, err := agents.EvaluateActor(ctx, actor, set.Tasks, ec)
	bar.Finish()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(a.stdout, "Scripted experts on %s (noise %g, %d episodes per task, %d envs)\n\n", cfg.TaskSet, cfg.Noise, cfg.Episodes, cfg.NumEnvs)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tENV\tEPISODES\tRETURN MEAN\tRETURN STD\tSUCCESS\tLENGTH MEAN")
	steps := 0.0
	for _, r := range res {
		fmt.Fprintf(w, "%s\t%s\t%d\t%.3f\t%.3f\t%.1f%%\t%.1f\n", r.TaskID, r.EnvID, r.Count, r.Mean, r.Std, 100*r.SuccessRate, r.MeanLength)
		steps += r.MeanLength * float64(r.Count)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	s := agents.Summarize(res)
	_, err = fmt.Fprintf(a.stdout, "\nSummary: %d tasks, %d episodes, mean return %.3f, success %.1f%%, %.0f steps in %.2fs (%.0f steps/s)\n",
		len(res), s.Episodes, s.MeanReturn, 100*s.SuccessRate, steps, elapsed.Seconds(), steps/elapsed.Seconds())
	return err
}
