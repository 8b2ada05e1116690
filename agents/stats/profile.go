package stats

import (
	"errors"
	"fmt"
	"math"
)

// A Profile evaluates a performance profile of s at each threshold tau[i], returning
// one share in [0, 1] per threshold.
type Profile func(s *Scores, tau []float64) []float64

// ScoreDistribution is the run-score distribution (rliable's score_distributions, the
// profile rliable recommends): the share of all runs × tasks whose score exceeds each
// τ. Read at τ it is the fraction of runs with score > τ; one method dominates another
// when its curve lies above everywhere.
func ScoreDistribution(s *Scores, tau []float64) []float64 {
	out := make([]float64, len(tau))
	for i, th := range tau {
		n := 0
		for _, v := range s.data {
			if v > th {
				n++
			}
		}
		out[i] = float64(n) / float64(len(s.data))
	}
	return out
}

// AverageScoreDistribution is the share of tasks whose mean score over runs exceeds
// each τ (rliable's average_score_distributions). It hides run-to-run spread and has
// higher variance than ScoreDistribution with few tasks.
func AverageScoreDistribution(s *Scores, tau []float64) []float64 {
	m := s.taskMeans()
	out := make([]float64, len(tau))
	for i, th := range tau {
		n := 0
		for _, v := range m {
			if v > th {
				n++
			}
		}
		out[i] = float64(n) / float64(len(m))
	}
	return out
}

// BootstrapProfile evaluates profile p of s at the thresholds tau with a pointwise
// stratified-bootstrap percentile band from cfg.ProfileReps replicates (rliable's
// create_performance_profile). The band is pointwise: each threshold's interval covers
// that threshold's share, not the whole curve at once.
func BootstrapProfile(s *Scores, p Profile, tau []float64, cfg Config, rs Resampler) ([]Estimate, error) {
	if p == nil {
		return nil, errors.New("stats: nil Profile; use ScoreDistribution")
	}
	if len(tau) == 0 {
		return nil, errors.New("stats: no thresholds; want at least one τ")
	}
	for i, th := range tau {
		if math.IsNaN(th) {
			return nil, fmt.Errorf("stats: threshold %d is NaN", i)
		}
	}
	vals, err := replicates([]*Scores{s}, cfg, cfg.ProfileReps, len(tau), rs, func(b []*Scores, dst []float64) {
		copy(dst, p(b[0], tau))
	})
	if err != nil {
		return nil, err
	}
	return intervals(p(s, tau), vals, cfg.Confidence), nil
}
