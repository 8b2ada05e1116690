package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Exec runs one of Slurm's commands (sbatch, squeue, scancel) and returns its
// standard output; when the command fails the error holds its standard error.
// Submit and the queue queries take one, so that tests can stand in for a cluster.
type Exec func(ctx context.Context, name string, args ...string) ([]byte, error)

// Command is the Exec that runs the commands found on PATH.
func Command(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &CommandError{Name: name, Args: args, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return out, nil
}

// CommandError is a Slurm command that failed.
type CommandError struct {
	Name   string
	Args   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Name, strings.Join(e.Args, " "), e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// Task is what Slurm knows of one array task, or of a job that is no array (the
// merge job), while the job is in slurmctld's memory: pending and running jobs,
// and for MinJobAge (5 minutes by default) after they end. Without accounting
// (sacct) nothing is known of older jobs; the run directories say what they did.
type Task struct {
	// ID is the job id as Slurm prints it: 12_3 for task 3 of array job 12.
	ID string
	// Job is the array job's id (the job's own for a job that is no array).
	Job string
	// Index is the array task id, the run's plan index; -1 for no array.
	Index int
	// State is Slurm's job state: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT,
	// PREEMPTED, CANCELLED, OUT_OF_MEMORY, ….
	State string
	// Reason is why a pending job waits (Dependency, JobArrayTaskLimit,
	// Priority, Resources, …); "None" otherwise.
	Reason string
}

// Active reports whether the task has yet to end: it holds its run, which must
// not be submitted again.
func (t Task) Active() bool {
	switch t.State {
	case "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED":
		return false
	}
	return true
}

// String is the task as the status table shows it: "RUNNING 12_3",
// "PENDING 12_5 (JobArrayTaskLimit)".
func (t Task) String() string {
	s := t.State + " " + t.ID
	if t.State == "PENDING" && t.Reason != "" && t.Reason != "None" {
		s += " (" + t.Reason + ")"
	}
	return s
}

// squeueFormat prints the fields parseQueue reads; -r lists every task of an array
// on its own line, pending ones too.
const squeueFormat = "%i|%F|%K|%T|%r"

// Queue asks squeue what it knows of the jobs (ids of array or plain jobs), in every
// state still in its memory.
func Queue(ctx context.Context, run Exec, jobs []string) ([]Task, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	out, err := run(ctx, "squeue", "--noheader", "--array", "--states=all", "--jobs="+strings.Join(jobs, ","), "--format="+squeueFormat)
	if err != nil {
		// squeue refuses a list of ids none of which it knows any more.
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "Invalid job id") {
			return nil, nil
		}
		return nil, fmt.Errorf("slurm: %w", err)
	}
	return parseQueue(out)
}

// parseQueue reads squeue's output in squeueFormat.
func parseQueue(out []byte) ([]Task, error) {
	var tasks []Task
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 5 {
			return nil, fmt.Errorf("slurm: squeue printed %q; want id|array job|array task|state|reason", line)
		}
		t := Task{ID: f[0], Job: f[1], Index: -1, State: f[3], Reason: f[4]}
		if f[2] != "N/A" {
			i, err := strconv.Atoi(f[2])
			if err != nil {
				return nil, fmt.Errorf("slurm: squeue printed %q: array task id %q is not a number", line, f[2])
			}
			t.Index = i
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}
