// Package experiment compares fine-tuning methods: an experiment (Config, a YAML
// file under configs/experiments) is methods × modes × task suites × seeds, and each
// combination is one run of package finetune. It is the library behind
// `rl-train experiment`.
//
//	plan, _ := experiment.NewPlan(cfg)              // every run, in a fixed order
//	runner := &experiment.Runner{Plan: plan}
//	experiment.RunLocal(ctx, plan, 0, runner.RunOne, nil)
//	results, _ := experiment.Merge(plan)            // out_dir/results.md, results.json, figures
//
// # Plan and run keys
//
// NewPlan lists the runs in the order family, task, mode, variant, seed; a run's
// Index is its position there. Its Key hashes its resolved fine-tuning config and
// the files it reads (base checkpoint, datasets); its directory is
// runs_dir/family/task/mode/variant/seedN, holding the key (KeyFile). A run whose
// directory holds its key and results.json is done and reused; one with its key and
// a last/ checkpoint is partial and resumes; one whose last attempt failed holds
// FailedFile; anything else is missing, and a directory of another key is emptied
// and the run starts anew (Status, Runner.RunOne).
//
// # Backends
//
// Runner.RunOne executes one run in the calling process; a backend decides where
// each call happens. RunLocal, the local backend, runs W at a time through a
// Launcher: ChildLauncher starts `rl-train experiment SNAPSHOT --run I` per run, one
// core each, logging to the run directory's LogFile; SNAPSHOT is the config as the
// experiment started with it (Snapshot, kept in runs_dir/local), so that editing the
// config file while runs execute changes none of them. Package slurm, the second
// backend, submits the same command as one task of a Slurm job array per run (array
// index = Index), logging to runs_dir/slurm/logs (Plan.SlurmLog), and the merge as a
// job after the array. Either way the same runs, with the same keys, write the same
// directories; SlurmConfig, the config's slurm section, changes no key.
//
// # Same answer everywhere
//
// A run's results depend only on its config and inputs (every random draw comes from
// its seed, and the kernels' results do not depend on the number of cores), an
// interrupted run resumes to the results of an uninterrupted one, and Merge reads
// only results: so results.md, results.json and the figures are the same bit for bit
// whichever backend ran the runs, and in whatever order. What differs — durations —
// goes to timing.json and timing.md.
//
// # Status and failures
//
// WriteStatus tabulates every run's status with the logs of failed and partial
// runs; Merge names the runs without a result (Describe: status, error, logs) in
// results.md and results.json and leaves their variants out of their group's
// aggregates.
package experiment
