package agents

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/replay"
)

// RecordingFiles writes the episodes an evaluation records (EvalConfig.Record with
// OnRecording set to its Add) into one replay file per task, <dir>/<task>.evds, as
// they finish: any number of episodes, in constant memory. Each file holds its
// task's episodes in target order, then index order, whatever order they finished
// in, so the files do not depend on NumEnvs.
type RecordingFiles struct {
	dir      string
	label    string
	targets  []float64
	episodes int
	tasks    []envs.Task
	writers  []*replay.Writer
	pending  []map[int]*replay.Episode
	written  []int
}

// NewRecordingFiles creates the files (replacing earlier recordings of the tasks);
// label names the policy in every episode's Source.
func NewRecordingFiles(dir string, tasks []envs.Task, cfg EvalConfig, label string) (*RecordingFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r := &RecordingFiles{dir: dir, label: label, targets: cfg.Targets, episodes: cfg.Episodes, tasks: tasks}
	for _, t := range tasks {
		path := r.Path(len(r.writers))
		os.Remove(path)
		w, err := replay.Create(path, &replay.WriteOptions{Compress: true})
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("record %s: %w", t.ID, err)
		}
		r.writers = append(r.writers, w)
		r.pending = append(r.pending, map[int]*replay.Episode{})
		r.written = append(r.written, 0)
	}
	return r, nil
}

// Path is the file of task k.
func (r *RecordingFiles) Path(k int) string {
	return filepath.Join(r.dir, TaskFileName(r.tasks[k].ID)+".evds")
}

// Add takes episode index of evaluation result res (EvalConfig.OnRecording).
func (r *RecordingFiles) Add(res, index int, ep *replay.Episode) error {
	nt := len(r.targets)
	task, k := res/nt, res%nt
	ep.Source = fmt.Sprintf("eval %s target=%g", r.label, r.targets[k])
	p := r.pending[task]
	p[k*r.episodes+index] = ep
	for next := p[r.written[task]]; next != nil; next = p[r.written[task]] {
		if err := r.writers[task].Write(next); err != nil {
			return err
		}
		delete(p, r.written[task])
		r.written[task]++
	}
	return nil
}

// Positions lists the file positions of the first n episodes of every target, in
// file order: what to draw of each file.
func (r *RecordingFiles) Positions(n int) []int {
	var idx []int
	for k := range r.targets {
		for j := 0; j < min(n, r.episodes); j++ {
			idx = append(idx, k*r.episodes+j)
		}
	}
	return idx
}

// Close closes every file.
func (r *RecordingFiles) Close() error {
	var errs []error
	for _, w := range r.writers {
		if w != nil {
			errs = append(errs, w.Close())
		}
	}
	r.writers = nil
	return errors.Join(errs...)
}

// TaskFileName turns a task id into a file name: characters other than letters,
// digits, '.', '-' and '_' become '_' ("gridworld/heldout-00" → "gridworld_heldout-00").
func TaskFileName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, id)
}
