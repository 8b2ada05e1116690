package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evarl/evarl/agents/experiment"
	"github.com/evarl/evarl/internal/atomicfile"
)

// SubmissionsFile records every submission in runs_dir/slurm, so that status and
// later submissions know which array tasks hold which runs.
const SubmissionsFile = "submissions.json"

// Submission is one submission: an array job of runs and the merge job after it.
type Submission struct {
	// ArrayJob and MergeJob are the jobs' ids.
	ArrayJob string `json:"array_job"`
	MergeJob string `json:"merge_job"`
	// Runs are the plan indices submitted (the array indices), Keys their run
	// keys: a task whose run has another key in the current plan runs an older
	// version of it.
	Runs []int    `json:"runs"`
	Keys []string `json:"keys"`
	// Config is the config snapshot the jobs read.
	Config string `json:"config"`
	// Submitted is when.
	Submitted time.Time `json:"submitted"`
}

// Options are what Submit needs besides the plan.
type Options struct {
	// DryRun writes the job scripts and the sbatch commands to Out instead of
	// writing files and submitting.
	DryRun bool
	// Wait returns only when the merge job has ended (asking squeue from every
	// second to every 15 s), with an error naming the runs that then have no
	// result.
	Wait bool
	// Out receives what the user reads: the runs submitted and the job ids, or a
	// dry run's scripts (nil: discarded).
	Out io.Writer
	// Exec runs sbatch and squeue (nil: Command, the real ones).
	Exec Exec
}

// Submit submits every run of the plan that is not done — missing, failed or
// partial (it resumes from last/) — and that no task of an earlier submission still
// holds, as one Slurm job array whose indices are the runs' plan indices, and a merge
// job that runs when the array has ended (--dependency=afterany). Each array task
// runs `rl-train experiment SNAPSHOT --run $SLURM_ARRAY_TASK_ID`, the local
// backend's command for one run, where SNAPSHOT is the plan's config written to
// runs_dir/slurm/config-HASH.yaml, so that editing the config file later changes no
// queued task. It returns the submission (nil when every run is done or queued, or
// for a dry run).
func Submit(ctx context.Context, p *experiment.Plan, opts Options) (*Submission, error) {
	run := opts.Exec
	if run == nil {
		run = Command
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	cfg := p.Config.Slurm
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := ParseTemplate(cfg.Template)
	if err != nil {
		return nil, err
	}
	l, err := layout(p)
	if err != nil {
		return nil, err
	}
	subs, err := ReadSubmissions(p)
	if err != nil {
		return nil, err
	}
	tasks, err := Queue(ctx, run, jobIDs(subs))
	if err != nil {
		if !opts.DryRun {
			return nil, fmt.Errorf("%w (needed to leave out the runs that earlier submissions still hold)", err)
		}
		fmt.Fprintf(out, "# %v: runs held by earlier submissions are not left out of this dry run\n", err)
	}
	todo, err := Select(p, subs, tasks)
	if err != nil {
		return nil, err
	}
	done := experiment.Counts(p)[experiment.StatusDone]
	held := len(p.Runs) - len(todo) - done
	if len(todo) == 0 {
		fmt.Fprintf(out, "nothing to submit: %d runs done, %d held by queued Slurm tasks; rl-train experiment CONFIG --status shows them\n", done, held)
		return nil, nil
	}
	snapshot, err := experiment.Snapshot(p, "The experiment config that rl-train experiment --slurm submitted; its jobs read this file.")
	if err != nil {
		return nil, err
	}
	l.Config = experiment.SnapshotPath(l.Dir, snapshot)
	array, merge, err := Scripts(cfg, jobName(p, cfg), todo, l)
	if err != nil {
		return nil, err
	}
	arrayText, err := Render(tmpl, array)
	if err != nil {
		return nil, err
	}
	mergeText, err := Render(tmpl, merge)
	if err != nil {
		return nil, err
	}
	arrayPath, mergePath := filepath.Join(l.Dir, "array.sh"), filepath.Join(l.Dir, "merge.sh")
	summary := fmt.Sprintf("%d of %d runs to do (plan indices %s); %d done, %d held by queued tasks", len(todo), len(p.Runs), ArraySpec(todo, 0), done, held)
	if opts.DryRun {
		fmt.Fprintf(out, "# Dry run, nothing written or submitted: %s.\n# The tasks would read %s, a snapshot of the config.\n\n", summary, l.Config)
		fmt.Fprintf(out, "# sbatch --parsable %s\n%s\n# sbatch --parsable --dependency=afterany:ARRAY_JOB_ID %s\n%s", arrayPath, arrayText, mergePath, mergeText)
		return nil, nil
	}

	if err := os.MkdirAll(filepath.Join(l.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(l.Config, snapshot); err != nil {
		return nil, err
	}
	for path, text := range map[string]string{arrayPath: arrayText, mergePath: mergeText} {
		if err := atomicfile.WriteFile(path, []byte(text)); err != nil {
			return nil, err
		}
	}
	sub := &Submission{Runs: todo, Config: l.Config, Submitted: time.Now().UTC()}
	for _, i := range todo {
		sub.Keys = append(sub.Keys, p.Runs[i].Key)
	}
	if sub.ArrayJob, err = sbatch(ctx, run, arrayPath); err != nil {
		if max := todo[len(todo)-1]; max >= 1001 {
			err = fmt.Errorf("%w (Slurm's MaxArraySize, 1001 unless the cluster raised it, bounds array indices; this submission's largest is %d)", err, max)
		}
		return nil, err
	}
	fmt.Fprintf(out, "submitted array job %s: %s\n", sub.ArrayJob, summary)
	sub.MergeJob, err = sbatch(ctx, run, mergePath, "--dependency=afterany:"+sub.ArrayJob)
	// Recorded whatever happened next: the jobs exist, and status must know their
	// tasks.
	subs = append(subs, *sub)
	if werr := writeSubmissions(p, subs); werr != nil {
		return sub, errors.Join(err, werr)
	}
	if err != nil {
		return sub, fmt.Errorf("slurm: array job %s was submitted, its merge job was not (rl-train experiment CONFIG --merge merges by hand): %w", sub.ArrayJob, err)
	}
	fmt.Fprintf(out, "submitted merge job %s (after array job %s ends): writes %s\n", sub.MergeJob, sub.ArrayJob, p.Config.OutDir)
	if !opts.Wait {
		return sub, nil
	}
	fmt.Fprintf(out, "waiting for merge job %s…\n", sub.MergeJob)
	err = wait(ctx, run, sub)
	if ctx.Err() != nil {
		return sub, fmt.Errorf("slurm: stopped waiting (%w); array job %s and merge job %s go on: rl-train experiment CONFIG --status shows them", ctx.Err(), sub.ArrayJob, sub.MergeJob)
	}
	mergeLog := filepath.Join(l.Dir, "logs", "merge-"+sub.MergeJob+".log")
	var failed []string
	for _, r := range p.Runs {
		if experiment.Status(r) != experiment.StatusDone {
			failed = append(failed, p.Describe(r))
		}
	}
	if len(failed) > 0 {
		msg := fmt.Sprintf("slurm: %d runs have no result after array job %s:\n  %s\nsubmit again to retry them", len(failed), sub.ArrayJob, strings.Join(failed, "\n  "))
		if err != nil {
			msg += fmt.Sprintf(" (merge job %s failed too; log %s)", sub.MergeJob, mergeLog)
		}
		return sub, errors.New(msg)
	}
	if err != nil {
		return sub, fmt.Errorf("slurm: merge job %s: %w; log %s", sub.MergeJob, err, mergeLog)
	}
	return sub, nil
}

// pollFirst and pollMax bound the interval at which wait asks squeue: from a
// second, doubling to 15 s. (sbatch --wait backs off faster: on Slurm 22.05 it
// returned 40 s after the submission of an array and merge that had ended within
// 10 s.)
var pollFirst, pollMax = time.Second, 15 * time.Second

// wait returns when neither job of sub is active any more: nil when the merge job
// completed, an error with its state otherwise.
func wait(ctx context.Context, run Exec, sub *Submission) error {
	interval := pollFirst
	for {
		tasks, err := Queue(ctx, run, []string{sub.ArrayJob, sub.MergeJob})
		if err != nil {
			return err
		}
		active, merge := false, ""
		for _, t := range tasks {
			active = active || t.Active()
			if t.ID == sub.MergeJob {
				merge = t.State
			}
		}
		if !active {
			switch merge {
			case "COMPLETED":
				return nil
			case "":
				return fmt.Errorf("slurm ended the job and no longer knows how (it keeps ended jobs MinJobAge seconds)")
			}
			return fmt.Errorf("ended %s", merge)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		interval = min(2*interval, pollMax)
	}
}

// Select returns the plan indices to submit, in order: every run that is not done
// and that no active task (tasks, from squeue) of a recorded submission holds. A
// task that holds a run of another key (the config or its input files changed since
// it was submitted) is an error: both would write the run's directory.
func Select(p *experiment.Plan, subs []Submission, tasks []Task) ([]int, error) {
	held := map[int]bool{}
	holders, err := holdingTasks(p, subs, tasks)
	if err != nil {
		return nil, err
	}
	for i, h := range holders {
		if h.stale {
			return nil, fmt.Errorf("slurm: task %s (%s) runs another version of run %d (its key changed since array job %s was submitted); "+
				"wait for it or scancel %s before submitting again", h.task.ID, h.task.State, i, h.task.Job, h.task.Job)
		}
		held[i] = true
	}
	var todo []int
	for _, r := range p.Runs {
		if !held[r.Index] && experiment.Status(r) != experiment.StatusDone {
			todo = append(todo, r.Index)
		}
	}
	return todo, nil
}

// holder is the active array task that holds a run.
type holder struct {
	task  Task
	stale bool // submitted with another key of the run
}

// holdingTasks maps plan indices to the active tasks of recorded submissions that
// hold them (the latest submission's, when several do).
func holdingTasks(p *experiment.Plan, subs []Submission, tasks []Task) (map[int]holder, error) {
	byID := map[string]Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	out := map[int]holder{}
	for _, s := range subs {
		if len(s.Keys) != len(s.Runs) {
			return nil, fmt.Errorf("slurm: %s: array job %s lists %d runs and %d keys", SubmissionsFile, s.ArrayJob, len(s.Runs), len(s.Keys))
		}
		for k, i := range s.Runs {
			t, ok := byID[fmt.Sprintf("%s_%d", s.ArrayJob, i)]
			if !ok || !t.Active() {
				continue
			}
			stale := i >= len(p.Runs) || p.Runs[i].Key != s.Keys[k]
			out[i] = holder{task: t, stale: stale}
		}
	}
	return out, nil
}

// jobIDs lists the recorded jobs, arrays and merges.
func jobIDs(subs []Submission) []string {
	var ids []string
	for _, s := range subs {
		ids = append(ids, s.ArrayJob)
		if s.MergeJob != "" {
			ids = append(ids, s.MergeJob)
		}
	}
	return ids
}

// sbatch submits script with args and returns the job id.
func sbatch(ctx context.Context, run Exec, script string, args ...string) (string, error) {
	out, err := run(ctx, "sbatch", append(append([]string{"--parsable"}, args...), script)...)
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";") // id;cluster
	if err != nil {
		return id, fmt.Errorf("slurm: %w", err)
	}
	if id == "" || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("slurm: sbatch --parsable %s printed %q; want a job id", script, out)
	}
	return id, nil
}

// layout resolves where the submission's files are: the jobs run in the current
// directory, rl-train is the configured executable or this binary.
func layout(p *experiment.Plan) (Layout, error) {
	wd, err := os.Getwd()
	if err != nil {
		return Layout{}, err
	}
	dir, err := filepath.Abs(filepath.Join(p.Config.RunsDir, experiment.SlurmDir))
	if err != nil {
		return Layout{}, err
	}
	exe, err := Executable(p.Config.Slurm)
	if err != nil {
		return Layout{}, err
	}
	return Layout{WorkDir: wd, Executable: exe, Dir: dir}, nil
}

// Executable is the rl-train the jobs run: slurm.executable (made absolute), or
// the running program itself, which must then be rl-train. A temporary build of
// `go run` is refused: it is deleted when go run exits, and compute nodes cannot
// see it.
func Executable(cfg experiment.SlurmConfig) (string, error) {
	if cfg.Executable != "" {
		return filepath.Abs(cfg.Executable)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("slurm: the path of rl-train: %w; set slurm.executable", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "", fmt.Errorf("slurm: rl-train runs from a temporary build of go run (%s), which compute nodes cannot run: "+
			"build it on the shared file system (go build -o bin/rl-train ./cmd/rl-train) and run that, or set slurm.executable", exe)
	}
	return exe, nil
}

// jobName is slurm.job_name or evarl-<runs_dir's base name>.
func jobName(p *experiment.Plan, cfg experiment.SlurmConfig) string {
	if cfg.JobName != "" {
		return cfg.JobName
	}
	name := "evarl-" + filepath.Base(filepath.Clean(p.Config.RunsDir))
	if !plainWord.MatchString(name) || strings.ContainsAny(name, "=%:,@") {
		return "evarl"
	}
	return name
}

// ReadSubmissions reads the submissions recorded in runs_dir/slurm (none when the
// file does not exist).
func ReadSubmissions(p *experiment.Plan) ([]Submission, error) {
	path := filepath.Join(p.Config.RunsDir, experiment.SlurmDir, SubmissionsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
	}
	var subs []Submission
	if err := json.Unmarshal(data, &subs); err != nil {
		return nil, fmt.Errorf("slurm: %s: %w", path, err)
	}
	return subs, nil
}

func writeSubmissions(p *experiment.Plan, subs []Submission) error {
	data, err := json.MarshalIndent(subs, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(p.Config.RunsDir, experiment.SlurmDir, SubmissionsFile), append(data, '\n'))
}
