package stats

import (
	"errors"
	"fmt"
	"math"
)

// Improvement is the probability of improvement of method X over method Y (rliable's
// probability_of_improvement): for each task, the probability that a random run of X
// scores higher than a random run of Y, ties counting one half (the Mann–Whitney U
// statistic of X divided by runs(X)·runs(Y)), averaged over tasks. It is 0.5 when the
// methods are indistinguishable and 1 − Improvement(y, x) always. Unlike a difference of
// means it says how often X wins, not by how much. X and Y may have different numbers
// of runs but must have the same tasks.
func Improvement(x, y *Scores) (float64, error) {
	if err := sameTasks(0, x, 1, y); err != nil {
		return 0, err
	}
	return improvement(x, y), nil
}

func improvement(x, y *Scores) float64 {
	sum := 0.0
	for t := range x.tasks {
		u := 0.0
		for i := range x.runs {
			xi := x.data[i*x.tasks+t]
			for j := range y.runs {
				switch yj := y.data[j*y.tasks+t]; {
				case xi > yj:
					u++
				case xi == yj:
					u += 0.5
				}
			}
		}
		sum += u / float64(x.runs*y.runs)
	}
	return sum / float64(x.tasks)
}

func sameTasks(i int, x *Scores, j int, y *Scores) error {
	if x.tasks != y.tasks {
		return fmt.Errorf("stats: method %d has %d tasks, method %d has %d; compared methods need the same tasks", i, x.tasks, j, y.tasks)
	}
	return nil
}

// BootstrapImprovement is Improvement(x, y) with its percentile interval from cfg.Reps
// replicates in which X and Y are resampled independently, each stratified by task
// (rliable's StratifiedIndependentBootstrap): the runs of two methods are unpaired, so
// neither's resampling may depend on the other's. Per replicate the Resampler is called
// for X, then for Y.
func BootstrapImprovement(x, y *Scores, cfg Config, rs Resampler) (Estimate, error) {
	if err := sameTasks(0, x, 1, y); err != nil {
		return Estimate{}, err
	}
	vals, err := replicates([]*Scores{x, y}, cfg, cfg.Reps, 1, rs, func(b []*Scores, dst []float64) {
		dst[0] = improvement(b[0], b[1])
	})
	if err != nil {
		return Estimate{}, err
	}
	return intervals([]float64{improvement(x, y)}, vals, cfg.Confidence)[0], nil
}

// ImprovementMatrix returns p[i][j] = BootstrapImprovement(methods[i], methods[j]) for
// every ordered pair, the matrix rliable's probability-of-improvement plot shows. Only
// the pairs i < j are bootstrapped, in row-major order; p[j][i] is their mirror image
// (1 − P, interval [1 − Hi, 1 − Lo]), which is exactly what resampling (j, i) with the
// same indices gives because U(Y, X) = n·m − U(X, Y). The diagonal, a method against
// itself, is not an estimate and is NaN in all three fields (which encoding/json
// refuses: skip it when writing the matrix out).
func ImprovementMatrix(methods []*Scores, cfg Config, rs Resampler) ([][]Estimate, error) {
	if len(methods) < 2 {
		return nil, errors.New("stats: ImprovementMatrix needs at least 2 methods")
	}
	for j := 1; j < len(methods); j++ {
		if err := sameTasks(0, methods[0], j, methods[j]); err != nil {
			return nil, err
		}
	}
	nan := math.NaN()
	p := make([][]Estimate, len(methods))
	for i := range p {
		p[i] = make([]Estimate, len(methods))
		p[i][i] = Estimate{nan, nan, nan}
	}
	for i := range methods {
		for j := i + 1; j < len(methods); j++ {
			e, err := BootstrapImprovement(methods[i], methods[j], cfg, rs)
			if err != nil {
				return nil, fmt.Errorf("stats: method %d over method %d: %w", i, j, err)
			}
			p[i][j] = e
			p[j][i] = Estimate{Value: 1 - e.Value, Lo: 1 - e.Hi, Hi: 1 - e.Lo}
		}
	}
	return p, nil
}
