package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// DefaultGamma is the optimality-gap threshold for evarl's normalised scores, where 100
// is the scripted expert: a run at or above it has no gap left.
const DefaultGamma = 100

// Scores is one method's results: a runs × tasks matrix of normalised scores, one row
// per seed and one column per task, as rliable's score matrices. Every task has the
// same number of runs; methods compared with each other may have different numbers of
// runs but must share the tasks, in the same column order. A Scores is immutable once
// built and safe for concurrent use.
type Scores struct {
	runs, tasks int
	data        []float64 // row-major runs × tasks: data[r*tasks+t]
}

// NewScores checks rows (rows[run][task]) and copies them into a Scores. It returns an
// error for no runs, no tasks, ragged rows (a task missing a run) and scores that are
// NaN or infinite, since every estimate here would silently absorb them.
func NewScores(rows [][]float64) (*Scores, error) {
	if len(rows) == 0 {
		return nil, errors.New("stats: no runs; want a runs × tasks matrix with at least one row")
	}
	tasks := len(rows[0])
	if tasks == 0 {
		return nil, errors.New("stats: run 0 has no tasks; want at least one score per run")
	}
	s := &Scores{runs: len(rows), tasks: tasks, data: make([]float64, 0, len(rows)*tasks)}
	for r, row := range rows {
		if len(row) != tasks {
			return nil, fmt.Errorf("stats: run %d has %d tasks, run 0 has %d; every task needs a score from every run", r, len(row), tasks)
		}
		for t, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("stats: score of run %d, task %d is %v; want a finite number", r, t, v)
			}
		}
		s.data = append(s.data, row...)
	}
	return s, nil
}

// Runs is the number of runs (rows).
func (s *Scores) Runs() int { return s.runs }

// Tasks is the number of tasks (columns).
func (s *Scores) Tasks() int { return s.tasks }

// At is the score of run r on task t.
func (s *Scores) At(r, t int) float64 { return s.data[r*s.tasks+t] }

// taskMeans is the mean score of each task over its runs.
func (s *Scores) taskMeans() []float64 {
	m := make([]float64, s.tasks)
	for r := range s.runs {
		for t, v := range s.data[r*s.tasks : (r+1)*s.tasks] {
			m[t] += v
		}
	}
	for t := range m {
		m[t] /= float64(s.runs)
	}
	return m
}

// A Metric maps a score matrix to one aggregate number. Bootstrap evaluates metrics on
// resampled matrices, so a Metric must depend on nothing but its argument.
type Metric func(s *Scores) float64

// IQM is the interquartile mean over all runs × tasks: the mean of the middle half of
// the pooled scores (scipy.stats.trim_mean(scores, 0.25, axis=None), as rliable's
// aggregate_iqm). With n pooled scores, floor(n/4) are cut from each end, so for n not
// divisible by 4 slightly more than half is kept (n = 5 keeps 3, n = 6 keeps 4) and for
// n < 4 nothing is cut.
func IQM(s *Scores) float64 {
	x := slices.Clone(s.data)
	slices.Sort(x)
	cut := len(x) / 4
	return stat.Mean(x[cut:len(x)-cut], nil)
}

// Mean is the mean over tasks of each task's mean score (rliable's aggregate_mean). It
// is easily dominated by a few tasks with outlying scores.
func Mean(s *Scores) float64 { return stat.Mean(s.taskMeans(), nil) }

// Median is the median over tasks of each task's mean score (rliable's
// aggregate_median; the average of the two middle tasks for an even count). It ignores
// half the tasks entirely and has high variance with few tasks.
func Median(s *Scores) float64 {
	m := s.taskMeans()
	slices.Sort(m)
	n := len(m)
	if n%2 == 1 {
		return m[n/2]
	}
	return (m[n/2-1] + m[n/2]) / 2
}

// OptimalityGap returns the metric gamma − mean(min(score, gamma)) over all runs ×
// tasks (rliable's aggregate_optimality_gap): how far the method falls short of the
// target gamma, with scores above it counting as gamma so that surpassing the target on
// one task cannot hide failing another. Lower is better; DefaultGamma suits evarl's
// 0–100 scores.
func OptimalityGap(gamma float64) Metric {
	return func(s *Scores) float64 {
		sum := 0.0
		for _, v := range s.data {
			sum += min(v, gamma)
		}
		return gamma - sum/float64(len(s.data))
	}
}
