package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents/experiment"
	"github.com/evarl/evarl/internal/config"
)

func init() { subcommands = append(subcommands, newExperimentCmd) }

// experimentFlags select what `rl-train experiment` does.
type experimentFlags struct {
	run       int  // execute this one run in this process (what each child runs)
	status    bool // print how many runs are done, partial, failed, missing
	merge     bool // only merge the results that exist
	inProcess bool // run every run in this process, one after the other
}

func newExperimentCmd(a *app) *cobra.Command {
	fl := experimentFlags{run: -1}
	cmd := &cobra.Command{
		Use:   "experiment CONFIG",
		Short: "Compare fine-tuning methods over task suites, modes and seeds; write tables, statistics and figures",
		Long: `Run every (family, task, mode, variant, seed) of CONFIG (configs/experiments/*.yaml)
and write out_dir/results.md (per-task tables; IQM and mean with stratified-bootstrap
intervals of the validation-selected and the last checkpoint on test seeds; the
probability of improvement of each method over each other; updates to reach 90 % of
the final validation score; the EVA pass's share of time), results.json (every run's
numbers) and figures (validation curves with interval bands, performance profiles,
probability of improvement).

Runs execute as child processes, workers at a time (default: one per CPU), each on one
core and one BLAS thread, logging to its run directory. A run is keyed by the hash of
its resolved config and input files: finished runs with the same key are reused,
interrupted ones resume from their last checkpoint, changed ones run again. --run I
executes run I alone in this process (the children, and a Slurm array task, run
that); --status counts the runs; --merge only writes the tables.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := experiment.DefaultConfig()
			if err := config.Load(args[0], &cfg, evalMoved("families.*.finetune.eval")...); err != nil {
				return err
			}
			return runExperiment(cmd.Context(), a, args[0], cfg, fl)
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.run, "run", -1, "execute only run I of the plan, in this process")
	f.BoolVar(&fl.status, "status", false, "print the state of every run and exit")
	f.BoolVar(&fl.merge, "merge", false, "only merge the finished runs into the tables")
	f.BoolVar(&fl.inProcess, "in-process", false, "execute the runs one after another in this process instead of child processes")
	return cmd
}

func runExperiment(ctx context.Context, a *app, path string, cfg experiment.Config, fl experimentFlags) error {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if fl.run < 0 && !fl.status && !fl.merge {
		if err := experiment.EnsureData(ctx, cfg, a.log); err != nil {
			return err
		}
	}
	plan, err := experiment.NewPlan(cfg)
	if err != nil {
		return err
	}
	runner := &experiment.Runner{Plan: plan, Log: a.log}
	switch {
	case fl.run >= 0:
		return runner.RunOne(ctx, fl.run)
	case fl.status:
		return experiment.WriteStatus(a.stdout, plan, nil)
	case fl.merge:
		return mergeExperiment(a, plan, start)
	}
	launch := func(ctx context.Context, i int) error { return runner.RunOne(ctx, i) }
	workers := cfg.Workers
	if fl.inProcess {
		workers = 1
	} else {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		launch = experiment.ChildLauncher(plan, exe, "experiment", path, "--log-format", "json")
	}
	a.log.WithField("runs", len(plan.Runs)).WithField("workers", workers).Info("experiment")
	failures, err := experiment.RunLocal(ctx, plan, workers, launch, func(done, failed, total int) {
		a.log.WithField("done", done).WithField("failed", failed).WithField("total", total).Info("experiment progress")
	})
	if err != nil {
		return err
	}
	if err := mergeExperiment(a, plan, start); err != nil {
		return err
	}
	if len(failures) > 0 {
		for _, f := range failures {
			a.log.WithField("run", f.Run.Index).WithField("log", f.Log).WithError(f.Err).Error("run failed")
		}
		return fmt.Errorf("experiment: %d runs failed (logs named above); run the command again to retry them", len(failures))
	}
	return nil
}

func mergeExperiment(a *app, plan *experiment.Plan, start time.Time) error {
	res, err := experiment.Merge(plan)
	if err != nil {
		return err
	}
	md, err := os.ReadFile(filepath.Join(plan.Config.OutDir, "results.md"))
	if err != nil {
		return err
	}
	fmt.Fprint(a.stdout, string(md))
	a.log.WithField("runs", len(res.Runs)).WithField("without_result", len(res.Failed)).
		WithField("wall", time.Since(start).Round(time.Second).String()).Info("merged")
	if len(res.Runs) == 0 {
		return errors.New("experiment: no run has a result yet")
	}
	return nil
}
