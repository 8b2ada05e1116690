// Package progress shows how far long work has come: a progress bar when the output
// is a terminal, periodic structured log lines otherwise (files, CI, pipes), so every
// long command reports progress the same way.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"golang.org/x/term"
)

// Reporter counts finished units of work.
type Reporter interface {
	// Describe names the part being worked on (a task, a phase).
	Describe(what string)
	// Add counts n finished units, with extra fields for the log lines (loss, return).
	Add(n int, fields logrus.Fields)
	// Finish ends the bar (and logs a last line when not on a terminal).
	Finish()
}

// New returns a bar on w when w is a terminal, else a Reporter that logs at most once
// per every. name labels the work ("pretrain"), unit its units ("steps").
func New(w io.Writer, log logrus.FieldLogger, name, unit string, total int, every time.Duration) Reporter {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pb := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(name),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
		return &bar{bar: pb, w: w, name: name}
	}
	now := time.Now()
	return &logLines{log: log, name: name, unit: unit, total: total, every: every, start: now, last: now}
}

type bar struct {
	bar  *progressbar.ProgressBar
	w    io.Writer
	name string
	done bool
}

func (b *bar) Describe(what string) { b.bar.Describe(b.name + " " + what) }

func (b *bar) Add(n int, _ logrus.Fields) { _ = b.bar.Add(n) }

func (b *bar) Finish() {
	if !b.done {
		b.done = true
		_ = b.bar.Exit()
		fmt.Fprintln(b.w) // keep the bar's last state on its own line
	}
}

type logLines struct {
	log         logrus.FieldLogger
	name, unit  string
	what        string
	total, done int
	every       time.Duration
	start, last time.Time
	fields      logrus.Fields
}

func (l *logLines) Describe(what string) { l.what = what }

func (l *logLines) Add(n int, fields logrus.Fields) {
	l.done += n
	if fields != nil {
		l.fields = fields
	}
	if time.Since(l.last) < l.every && l.done < l.total {
		return
	}
	l.last = time.Now()
	l.emit()
}

func (l *logLines) emit() {
	f := logrus.Fields{"done": l.done, "total": l.total, "unit": l.unit,
		"per_s": fmt.Sprintf("%.1f", float64(l.done)/max(time.Since(l.start).Seconds(), 1e-9))}
	if l.what != "" {
		f["at"] = l.what
	}
	for k, v := range l.fields {
		f[k] = v
	}
	l.log.WithFields(f).Info(l.name)
}

func (l *logLines) Finish() {}
