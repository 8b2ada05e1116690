package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/experiment"
	"github.com/evarl/evarl/agents/experiment/slurm"
	"github.com/evarl/evarl/internal/config"
)

func init() { subcommands = append(subcommands, newExperimentCmd) }

// experimentFlags select what `rl-train experiment` does.
type experimentFlags struct {
	run       int  // execute this one run in this process (what each child runs)
	status    bool // print how many runs are done, partial, failed, missing
	merge     bool // only merge the results that exist
	inProcess bool // run every run in this process, one after the other
	slurm     bool // submit the runs as a Slurm job array and a merge job
	dryRun    bool // with slurm: print the job scripts, submit nothing
	wait      bool // with slurm: return when the merge job has ended
	// slurmOpts holds the Slurm flags, copied over the config's slurm section
	// (applyFlags).
	slurmOpts experiment.SlurmConfig
}

// slurmFlagNames are the flags of the slurm section: its yaml keys with '-', as
// applyFlags names them.
func slurmFlagNames() []string {
	var names []string
	t := reflect.TypeOf(experiment.SlurmConfig{})
	for i := 0; i < t.NumField(); i++ {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		names = append(names, strings.ReplaceAll(key, "_", "-"))
	}
	return names
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
that); --status counts the runs; --merge only writes the tables.

--slurm submits the runs that are not done (missing, failed or partial) as a Slurm
job array, one task per run (the array index is the run's index in the plan), and a
merge job that writes the tables when the array has ended; run it from a directory
on the file system the compute nodes share. Options come from the config's slurm
section, overridden by the flags below; --dry-run prints the job scripts instead,
--wait returns when the merge has ended. --status then adds what squeue knows of
each run's task. Submit again to retry failed runs; runs stopped by a time limit or
preemption resume from their last checkpoint.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := experiment.DefaultConfig()
			if err := config.Load(args[0], &cfg, evalMoved("families.*.finetune.eval")...); err != nil {
				return err
			}
			applyFlags(cmd.Flags(), &cfg.Slurm, &fl.slurmOpts)
			return runExperiment(cmd.Context(), a, args[0], cfg, fl)
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.run, "run", -1, "execute only run I of the plan, in this process")
	f.BoolVar(&fl.status, "status", false, "print the state of every run and exit")
	f.BoolVar(&fl.merge, "merge", false, "only merge the finished runs into the tables")
	f.BoolVar(&fl.inProcess, "in-process", false, "execute the runs one after another in this process instead of child processes")
	f.BoolVar(&fl.slurm, "slurm", false, "submit the runs as a Slurm job array and a dependent merge job")
	f.BoolVar(&fl.dryRun, "dry-run", false, "with --slurm: print the job scripts and sbatch commands, submit nothing")
	f.BoolVar(&fl.wait, "wait", false, "with --slurm: return when the merge job has ended (error if runs failed)")
	so := &fl.slurmOpts
	f.StringVar(&so.Partition, "partition", "", "Slurm partition (slurm.partition)")
	f.StringVar(&so.Account, "account", "", "Slurm account (slurm.account)")
	f.StringVar(&so.Time, "time", "", "time limit of each run's task, e.g. 2:00:00 (slurm.time)")
	f.IntVar(&so.CPUsPerTask, "cpus-per-task", 1, "CPUs of each run's task (slurm.cpus_per_task)")
	f.StringVar(&so.Mem, "mem", "", "memory of each run's task, e.g. 4G (slurm.mem)")
	f.IntVar(&so.Throttle, "throttle", 0, "most array tasks running at once, 0: no limit (slurm.throttle)")
	f.IntVar(&so.SignalSeconds, "signal-seconds", 120, "SIGTERM the run this many seconds before its time limit (slurm.signal_seconds)")
	f.BoolVar(&so.Requeue, "requeue", true, "let Slurm requeue preempted tasks (slurm.requeue)")
	f.StringVar(&so.JobName, "job-name", "", "name of the array job (slurm.job_name)")
	f.StringArrayVar(&so.SbatchArgs, "sbatch-args", nil, "a further sbatch option for both jobs, e.g. --sbatch-args=--qos=long (repeatable; slurm.sbatch_args)")
	f.StringVar(&so.Template, "template", "", "text/template file of the job scripts (slurm.template)")
	f.StringVar(&so.Executable, "executable", "", "rl-train as the compute nodes find it (slurm.executable; default: this binary)")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return checkExperimentFlags(cmd, &fl) }
	return cmd
}

func runExperiment(ctx context.Context, a *app, path string, cfg experiment.Config, fl experimentFlags) error {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if fl.run < 0 && !fl.status && !fl.merge && !fl.slurm {
		// A second experiment run here on these runs is refused at once, before it
		// collects data beside the first; each run's own lock (RunOne) also keeps
		// out a --run of the same run on this machine.
		unlock, err := agents.LockRunDir(cfg.RunsDir)
		if err != nil {
			return fmt.Errorf("experiment: runs_dir: %w", err)
		}
		defer unlock()
	}
	if fl.run < 0 && !fl.status && !fl.merge {
		// A Slurm submission collects here too: the run keys hash the data.
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
		return experimentStatus(ctx, a, plan, fl.slurm)
	case fl.merge:
		return mergeExperiment(a, plan, start)
	case fl.slurm:
		sub, err := slurm.Submit(ctx, plan, slurm.Options{DryRun: fl.dryRun, Wait: fl.wait, Out: a.stdout})
		if err != nil || sub == nil || !fl.wait {
			return err
		}
		return printResults(a, plan)
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
		// The runs read a snapshot of the config, so an edit of the config file
		// while they run changes none of them.
		snapshot, err := experiment.WriteSnapshot(plan, filepath.Join(cfg.RunsDir, experiment.LocalDir),
			"The experiment config that rl-train experiment "+path+" started; its run processes read this file.")
		if err != nil {
			return err
		}
		launch = experiment.ChildLauncher(plan, exe, "experiment", snapshot, "--log-format", "json")
	}
	a.log.WithField("runs", len(plan.Runs)).WithField("workers", workers).Info("experiment")
	failures, err := experiment.RunLocal(ctx, plan, workers, launch, func(done, failed, total int) {
		a.log.WithField("done", done).WithField("failed", failed).WithField("total", total).Info("experiment progress")
	})
	if err != nil {
		return err
	}
	// The failures are logged before the merge, which fails when no run has a
	// result and would otherwise hide why.
	for _, f := range failures {
		a.log.WithField("run", f.Run.Index).WithField("log", f.Log).WithError(f.Err).Error("run failed")
	}
	if err := mergeExperiment(a, plan, start); err != nil {
		return err
	}
	if len(failures) > 0 {
		return fmt.Errorf("experiment: %d runs failed (logs named above); run the command again to retry them", len(failures))
	}
	return nil
}

// checkExperimentFlags rejects flags given without what they apply to.
func checkExperimentFlags(cmd *cobra.Command, fl *experimentFlags) error {
	f := cmd.Flags()
	if !fl.slurm {
		for _, name := range append([]string{"dry-run", "wait"}, slurmFlagNames()...) {
			if f.Lookup(name) != nil && f.Changed(name) {
				return fmt.Errorf("--%s applies to --slurm", name)
			}
		}
	}
	if fl.slurm {
		for _, name := range []string{"run", "merge", "in-process"} {
			if f.Changed(name) {
				return fmt.Errorf("--%s and --slurm exclude each other (an array task runs --run itself; --merge alone merges here)", name)
			}
		}
		if fl.status && (fl.dryRun || fl.wait) {
			return fmt.Errorf("--status shows the runs; --dry-run and --wait apply to a submission")
		}
	}
	return nil
}

// experimentStatus prints the runs' status, with what squeue knows of their Slurm
// tasks when asked (--slurm) or when the experiment was submitted to Slurm.
func experimentStatus(ctx context.Context, a *app, plan *experiment.Plan, asked bool) error {
	subs, err := slurm.ReadSubmissions(plan)
	if err != nil {
		return err
	}
	if !asked && len(subs) == 0 {
		return experiment.WriteStatus(a.stdout, plan, nil)
	}
	err = slurm.WriteStatus(ctx, a.stdout, plan, nil)
	if err != nil && !asked && errors.Is(err, exec.ErrNotFound) {
		// Submitted from elsewhere; the file system still tells the runs' states.
		a.log.WithError(err).Warn("squeue is not here: showing the run directories only")
		return experiment.WriteStatus(a.stdout, plan, nil)
	}
	return err
}

// printResults prints the merged results.md.
func printResults(a *app, plan *experiment.Plan) error {
	md, err := os.ReadFile(filepath.Join(plan.Config.OutDir, "results.md"))
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(a.stdout, string(md))
	return err
}

func mergeExperiment(a *app, plan *experiment.Plan, start time.Time) error {
	res, err := experiment.Merge(plan)
	if err != nil {
		return err
	}
	if err := printResults(a, plan); err != nil {
		return err
	}
	a.log.WithField("runs", len(res.Runs)).WithField("without_result", len(res.Failed)).
		WithField("wall", time.Since(start).Round(time.Second).String()).Info("merged")
	if len(res.Runs) == 0 {
		return errors.New("experiment: no run has a result yet")
	}
	return nil
}
