// Package slurm is the experiment runner's second backend: it runs an experiment's
// runs as a Slurm job array, one array task per run, on a cluster whose nodes share
// a file system, and merges their results with a job that depends on the array.
// `rl-train experiment CONFIG --slurm` calls it.
//
//	plan, _ := experiment.NewPlan(cfg)            // cfg.Slurm: partition, time, CPUs, …
//	sub, _ := slurm.Submit(ctx, plan, slurm.Options{Out: os.Stdout})
//	slurm.WriteStatus(ctx, os.Stdout, plan, nil)  // the runs, and what squeue knows of their tasks
//
// # One code path
//
// An array task's index is its run's index in the plan, and the task runs
// `rl-train experiment SNAPSHOT --run $SLURM_ARRAY_TASK_ID`: experiment.Runner.RunOne,
// the very call each child process of the local backend makes, with the same run
// key and run directory. The merge job runs `rl-train experiment SNAPSHOT --merge`
// (experiment.Merge). So the tables, results.json and figures are the same, bit for
// bit, whichever backend ran the runs; only timing.json and timing.md differ.
// SNAPSHOT is the plan's config written to runs_dir/slurm/config-HASH.yaml (and
// checked to give the same runs and keys), so that editing the config file after a
// submission changes no queued task.
//
// # Resubmission and interruption
//
// Submit submits the runs that are not done — missing, failed or partial — except
// those an active task of an earlier submission (recorded in
// runs_dir/slurm/submissions.json) still holds; submitting again is how failed runs
// are retried. A task that Slurm stops (time limit, preemption, scancel) receives
// SIGTERM: rl-train cancels its context, the run saves last/ and is partial, and it
// resumes from there when it runs again (requeued by Slurm with slurm.requeue, or
// submitted again), with the results of an uninterrupted run. The script asks Slurm
// for that SIGTERM slurm.signal_seconds before the time limit (--signal=B:TERM@N:
// the batch shell is rl-train itself, by exec), so that the checkpoint is written
// before SIGKILL. A run killed before its first checkpoint starts anew.
//
// # Files
//
// runs_dir/slurm holds array.sh and merge.sh (the job scripts last submitted),
// config-HASH.yaml, submissions.json, and logs/: run-I.log for the tasks of run I
// (every attempt appended; experiment.Plan.SlurmLog, named by Merge and status for
// runs without a result) and merge-JOB.log.
//
// # Status
//
// The run directories say which runs are done, partial, failed or missing; squeue
// says which array tasks are pending or running, and for a few minutes after they
// end how they ended (COMPLETED, FAILED, TIMEOUT, PREEMPTED, …). There is no
// accounting database (sacct) to ask about older jobs, and none is needed.
//
// # Job scripts
//
// Both jobs' scripts come from one text/template, DefaultTemplate unless
// slurm.template names a file; it receives a Script (sbatch directives, setup lines,
// work directory, the command). Run the command with exec in a template of your
// own, as the default does.
package slurm
