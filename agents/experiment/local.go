package experiment

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		return nil
	}
}

// Counts tallies the plan's runs by Status.
func Counts(p *Plan) map[string]int {
	c := map[string]int{}
	for _, r := range p.Runs {
		c[Status(r)]++
	}
	return c
}

// WriteStatus writes a table of every run with its status (and the log of runs that
// failed or stopped part-way), then the counts.
func WriteStatus(w io.Writer, p *Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tFAMILY\tTASK\tMODE\tVARIANT\tSEED\tSTATUS\tLOG")
	counts := map[string]int{}
	for _, r := range p.Runs {
		s := Status(r)
		counts[s]++
		log := "-"
		if s == StatusFailed || s == StatusPartial {
			log = filepath.Join(r.Dir, LogFile)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Index, r.Family, r.Task, r.Mode, r.Variant, r.Seed, s, log)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d runs: %d done, %d partial, %d failed, %d missing\n", len(p.Runs),
		counts[StatusDone], counts[StatusPartial], counts[StatusFailed], counts[StatusMissing])
	return err
}
