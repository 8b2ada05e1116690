package experiment

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ChildLauncher runs run i as the command exe with args followed by "--run i", in a
// child process restricted to one core and one BLAS thread (GOMAXPROCS=1,
// OPENBLAS_NUM_THREADS=1), its output appended to the run directory's LogFile. When
// ctx is cancelled the child is interrupted (it saves its last checkpoint) and given
// a minute to exit. It is the local backend's launcher; a Slurm array task runs the
// same command.
func ChildLauncher(p *Plan, exe string, args ...string) Launcher {
	return func(ctx context.Context, i int) error {
		r := p.Runs[i]
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return err
		}
		logf, err := os.OpenFile(filepath.Join(r.Dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd := exec.CommandContext(ctx, exe, append(append([]string(nil), args...), "--run", strconv.Itoa(i))...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "OPENBLAS_NUM_THREADS=1")
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = time.Minute
		began := time.Now()
		var logStart int64 // this attempt's output begins here in the log
		if fi, err := logf.Stat(); err == nil {
			logStart = fi.Size()
		}
		if err := cmd.Run(); err != nil {
			// Only this attempt's error: a child that died before recording one
			// leaves the previous attempt's in place (the slack is for coarse
			// file times).
			fi, serr := os.Stat(filepath.Join(r.Dir, FailedFile))
			if msg := FailureMessage(r); msg != "" && serr == nil && !fi.ModTime().Before(began.Add(-time.Second)) {
				return fmt.Errorf("run %d: %w: %s", i, err, msg)
			}
			// Else the child failed before it could record its error (its run
			// directory in use, say): the last error line it printed says why.
			if msg := lastErrorLine(logf.Name(), logStart, errorPrefix); msg != "" {
				return fmt.Errorf("run %d: %w: %s", i, err, msg)
			}
			return fmt.Errorf("run %d: %w", i, err)
		}
		return nil
	}
}

// errorPrefix starts the line with which rl-train reports the error it exits on.
const errorPrefix = "rl-train: "

// lastErrorLine is the last line of the file at path, from byte from on, that
// starts with prefix, without it, looked for in the file's last 16 KiB and cut to
// 300 bytes; "" when there is none.
func lastErrorLine(path string, from int64, prefix string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 16 << 10
	if fi, err := f.Stat(); err == nil {
		from = max(from, fi.Size()-tail)
	}
	if _, err := f.Seek(max(from, 0), io.SeekStart); err != nil {
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(f, tail))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for j := len(lines) - 1; j >= 0; j-- {
		if msg, ok := strings.CutPrefix(lines[j], prefix); ok {
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
			return msg
		}
	}
	return ""
}

// Counts tallies the plan's runs by Status.
func Counts(p *Plan) map[string]int {
	c := map[string]int{}
	for _, r := range p.Runs {
		c[Status(r)]++
	}
	return c
}

// Describe names run r with what is on disk of it: its status, the error of its
// last failed attempt and its log files (LogFiles). Merge lists runs without a
// result so.
func (p *Plan) Describe(r Run) string {
	s := Status(r)
	line := fmt.Sprintf("run %d (%s %s %s %s seed %d): %s", r.Index, r.Family, r.Task, r.Mode, r.Variant, r.Seed, s)
	if s == StatusFailed {
		if msg := FailureMessage(r); msg != "" {
			line += ": " + msg
		}
	}
	if logs := p.LogFiles(r); len(logs) > 0 {
		line += "; log " + strings.Join(logs, ", ")
	} else {
		line += "; no log"
	}
	return line
}

// FailureMessage is the first line of the error that run r's last attempt failed
// with (FailedFile), cut to 300 bytes; "" when it has none.
func FailureMessage(r Run) string {
	data, err := os.ReadFile(filepath.Join(r.Dir, FailedFile))
	if err != nil {
		return ""
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// WriteStatus writes a table of every run with its status (and the logs of runs
// that failed or stopped part-way), then the counts. sched, when not nil, adds a
// column with what a scheduler knows of each run (package slurm passes the state
// of its array tasks), "-" for runs it does not name.
func WriteStatus(w io.Writer, p *Plan, sched map[int]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "RUN\tFAMILY\tTASK\tMODE\tVARIANT\tSEED\tSTATUS"
	if sched != nil {
		head += "\tSLURM"
	}
	fmt.Fprintln(tw, head+"\tLOG")
	counts := map[string]int{}
	for _, r := range p.Runs {
		s := Status(r)
		counts[s]++
		log := "-"
		if s == StatusFailed || s == StatusPartial {
			if logs := p.LogFiles(r); len(logs) > 0 {
				log = strings.Join(logs, ",")
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s", r.Index, r.Family, r.Task, r.Mode, r.Variant, r.Seed, s)
		if sched != nil {
			state, ok := sched[r.Index]
			if !ok {
				state = "-"
			}
			fmt.Fprintf(tw, "\t%s", state)
		}
		fmt.Fprintf(tw, "\t%s\n", log)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d runs: %d done, %d partial, %d failed, %d missing\n", len(p.Runs),
		counts[StatusDone], counts[StatusPartial], counts[StatusFailed], counts[StatusMissing])
	return err
}
