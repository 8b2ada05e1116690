package slurm

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/evarl/evarl/agents/experiment"
)

// WriteStatus writes the plan's status table (experiment.WriteStatus: done,
// partial, failed, missing, from the run directories) with a SLURM column: the
// state of the array task that last held each run, for the submissions recorded in
// runs_dir/slurm, as squeue reports it. Then it counts the active tasks and names
// each recorded job with what Slurm still knows of it. Without a recorded
// submission it writes the table alone and says so.
func WriteStatus(ctx context.Context, w io.Writer, p *experiment.Plan, run Exec) error {
	if run == nil {
		run = Command
	}
	subs, err := ReadSubmissions(p)
	if err != nil {
		return err
	}
	if len(subs) == 0 {
		if err := experiment.WriteStatus(w, p, nil); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, "Slurm: no submission recorded in", p.Config.RunsDir+"/"+experiment.SlurmDir)
		return err
	}
	tasks, err := Queue(ctx, run, jobIDs(subs))
	if err != nil {
		return err
	}
	if err := experiment.WriteStatus(w, p, stateColumn(p, subs, tasks)); err != nil {
		return err
	}
	_, err = io.WriteString(w, queueSummary(subs, tasks))
	return err
}

// stateColumn is, per plan index, the state of the task of the latest submission of
// the run that squeue still knows.
func stateColumn(p *experiment.Plan, subs []Submission, tasks []Task) map[int]string {
	byID := map[string]Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	col := map[int]string{}
	for _, s := range subs {
		for k, i := range s.Runs {
			t, ok := byID[fmt.Sprintf("%s_%d", s.ArrayJob, i)]
			if !ok {
				continue
			}
			state := t.String()
			if k < len(s.Keys) && (i >= len(p.Runs) || p.Runs[i].Key != s.Keys[k]) {
				state += " (another version of the run)"
			}
			col[i] = state
		}
	}
	return col
}

// queueSummary counts the active tasks and lists each recorded job with the states
// of its tasks.
func queueSummary(subs []Submission, tasks []Task) string {
	byJob := map[string][]Task{}
	running, pending := 0, 0
	for _, t := range tasks {
		byJob[t.Job] = append(byJob[t.Job], t)
		if t.Index >= 0 {
			switch {
			case t.State == "RUNNING" || t.State == "COMPLETING":
				running++
			case t.Active():
				pending++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Slurm: %d array tasks running, %d pending\n", running, pending)
	gone := 0
	for _, s := range subs {
		line := func(kind, id string) {
			ts := byJob[id]
			if len(ts) == 0 {
				gone++
				return
			}
			if kind == "merge" {
				state := ts[0].State
				if state == "PENDING" && ts[0].Reason != "" && ts[0].Reason != "None" {
					state += " (" + ts[0].Reason + ")"
				}
				fmt.Fprintf(&b, "  merge job %s: %s\n", id, state)
				return
			}
			states := map[string]int{}
			for _, t := range ts {
				states[t.State]++
			}
			names := make([]string, 0, len(states))
			for st := range states {
				names = append(names, st)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, st := range names {
				parts[i] = fmt.Sprintf("%d %s", states[st], st)
			}
			fmt.Fprintf(&b, "  array job %s (runs %s, submitted %s): %s\n", id, ArraySpec(s.Runs, 0), s.Submitted.Format("2006-01-02 15:04 MST"), strings.Join(parts, ", "))
		}
		line("array", s.ArrayJob)
		if s.MergeJob != "" {
			line("merge", s.MergeJob)
		}
	}
	if gone > 0 {
		fmt.Fprintf(&b, "  %d recorded jobs have ended and left Slurm's memory (without accounting it keeps them minutes); the run directories say what they did\n", gone)
	}
	return b.String()
}
