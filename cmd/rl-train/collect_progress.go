package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"golang.org/x/term"

	"github.com/evarl/evarl/replay"
)

// collectProgress shows how far a dataset's collection is: a progress bar when
// stderr is a terminal, periodic log lines otherwise (files, CI, pipes).
type collectProgress interface {
	// describe names the part being collected (dataset, task, noise).
	describe(what string)
	// add counts n finished episodes.
	add(n int)
	// finish ends the bar (a no-op for log lines).
	finish()
}

func newCollectProgress(a *app, dataset string, total int, every time.Duration) collectProgress {
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(dataset),
			progressbar.OptionSetItsString("episodes"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
		return &barProgress{bar: bar, w: a.stderr}
	}
	return &logProgress{log: a.log, dataset: dataset, total: total, every: every, start: time.Now(), last: time.Now()}
}

type barProgress struct {
	bar  *progressbar.ProgressBar
	w    io.Writer
	done bool
}

func (p *barProgress) describe(what string) { p.bar.Describe(what) }
func (p *barProgress) add(n int)            { p.bar.Add(n) }
func (p *barProgress) finish() {
	if !p.done {
		p.done = true
		p.bar.Exit()
		fmt.Fprintln(p.w) // leave the bar's last state on its own line
	}
}

type logProgress struct {
	log         *logrus.Logger
	dataset     string
	what        string
	total, done int
	every       time.Duration
	start, last time.Time
}

func (p *logProgress) describe(what string) { p.what = what }

func (p *logProgress) add(n int) {
	p.done += n
	if time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	p.log.WithFields(logrus.Fields{
		"dataset": p.dataset, "at": p.what, "episodes": p.done, "of": p.total,
		"episodes_per_s": int(float64(p.done) / time.Since(p.start).Seconds()),
	}).Info("progress")
}

func (p *logProgress) finish() {}

// writeTaskStats prints one row per task: episodes, transitions, return statistics
// and success rate.
func writeTaskStats(out io.Writer, stats []replay.TaskStats) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tENV\tEPISODES\tTRANSITIONS\tRETURN MEAN\tRETURN STD\tRETURN MIN\tRETURN MAX\tSUCCESS")
	for _, s := range stats {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f%%\n", s.Task, s.EnvID, s.Episodes, s.Transitions,
			s.ReturnMean, s.ReturnStd, s.ReturnMin, s.ReturnMax, 100*s.SuccessRate)
	}
	return w.Flush()
}
