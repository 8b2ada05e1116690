package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Config sets the bootstrap. The zero value is invalid; start from DefaultConfig.
type Config struct {
	// Reps is the number of bootstrap replicates for aggregates and probabilities of
	// improvement (rliable's get_interval_estimates default, 50000). The Monte Carlo
	// error of an interval end shrinks as 1/√Reps.
	Reps int `yaml:"reps"`
	// ProfileReps is the number of replicates for performance-profile bands, which
	// cost one value per threshold and replicate (rliable's create_performance_profile
	// default, 2000).
	ProfileReps int `yaml:"profile_reps"`
	// Confidence is the coverage of the two-sided percentile interval, in (0, 1).
	Confidence float64 `yaml:"confidence"`
}

// DefaultConfig returns rliable's defaults: 50000 replicates (2000 for profiles) and
// 95 % percentile intervals.
func DefaultConfig() Config {
	return Config{Reps: 50000, ProfileReps: 2000, Confidence: 0.95}
}

func (c Config) check(reps int) error {
	if reps < 1 {
		return fmt.Errorf("stats: bootstrap reps %d; want at least 1", reps)
	}
	if !(c.Confidence > 0 && c.Confidence < 1) {
		return fmt.Errorf("stats: confidence %v; want a coverage in (0, 1) such as 0.95", c.Confidence)
	}
	return nil
}

// A Resampler draws the run indices of one stratified bootstrap replicate: it fills
// idx, a row-major runs × tasks array, with indices in [0, runs), and run r of task t
// in the replicate is original run idx[r*tasks+t] of task t. Tasks never mix, so each
// task keeps its own distribution (rliable's StratifiedBootstrap). The methods here
// call Resample once per replicate and matrix, in a documented order, so a test can
// replay the indices another implementation used.
type Resampler interface {
	Resample(idx []int, runs, tasks int) error
}

// Stratified returns the Resampler that draws every index uniformly with replacement
// from rng, in row-major order, as rliable does with np.random.choice(runs, (runs,
// tasks)). The results depend only on rng's seed.
func Stratified(rng *rand.Rand) Resampler { return stratified{rng} }

type stratified struct{ rng *rand.Rand }

func (s stratified) Resample(idx []int, runs, tasks int) error {
	if s.rng == nil {
		return errors.New("stats: Stratified resampler has a nil *rand.Rand")
	}
	for i := range idx {
		idx[i] = s.rng.IntN(runs)
	}
	return nil
}

// Estimate is a point estimate with its bootstrap confidence interval [Lo, Hi].
type Estimate struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// Format writes the estimate as "85.2 [80.1, 89.7]" with prec decimals, the form
// rliable's papers report; prefix the metric's name for a table cell or log line.
func (e Estimate) Format(prec int) string {
	return fmt.Sprintf("%.*f [%.*f, %.*f]", prec, e.Value, prec, e.Lo, prec, e.Hi)
}

// String formats the estimate with one decimal, which suits 0–100 scores.
func (e Estimate) String() string { return e.Format(1) }

// Bootstrap evaluates each metric on s and its stratified-bootstrap percentile interval
// from cfg.Reps replicates, all metrics on the same replicates (as rliable's
// get_interval_estimates with an aggregate function returning several metrics). The
// Resampler is called once per replicate. It needs at least two runs per task: with one
// run every replicate equals the data and the interval would claim certainty.
func Bootstrap(s *Scores, cfg Config, rs Resampler, metrics ...Metric) ([]Estimate, error) {
	if len(metrics) == 0 {
		return nil, errors.New("stats: Bootstrap needs at least one metric")
	}
	point := make([]float64, len(metrics))
	for i, m := range metrics {
		point[i] = m(s)
	}
	vals, err := replicates([]*Scores{s}, cfg, cfg.Reps, len(metrics), rs, func(b []*Scores, dst []float64) {
		for i, m := range metrics {
			dst[i] = m(b[0])
		}
	})
	if err != nil {
		return nil, err
	}
	return intervals(point, vals, cfg.Confidence), nil
}

// replicates draws reps replicates of the matrices ms, resampling each independently
// (ms[0] first, then ms[1], … within a replicate; rliable's
// StratifiedIndependentBootstrap when there are several), and evaluates f on each into
// k values. It returns reps × k values, row-major.
func replicates(ms []*Scores, cfg Config, reps, k int, rs Resampler, f func(b []*Scores, dst []float64)) ([]float64, error) {
	if err := cfg.check(reps); err != nil {
		return nil, err
	}
	if rs == nil {
		return nil, errors.New("stats: nil Resampler; use Stratified(rng)")
	}
	bufs := make([]*Scores, len(ms))
	idx := make([][]int, len(ms))
	for i, m := range ms {
		if m.runs < 2 {
			return nil, fmt.Errorf("stats: bootstrap needs at least 2 runs per task, matrix %d has %d", i, m.runs)
		}
		bufs[i] = &Scores{runs: m.runs, tasks: m.tasks, data: make([]float64, len(m.data))}
		idx[i] = make([]int, len(m.data))
	}
	vals := make([]float64, reps*k)
	for rep := range reps {
		for i, m := range ms {
			if err := rs.Resample(idx[i], m.runs, m.tasks); err != nil {
				return nil, fmt.Errorf("stats: replicate %d: %w", rep, err)
			}
			for j, r := range idx[i] {
				if r < 0 || r >= m.runs {
					return nil, fmt.Errorf("stats: replicate %d: resampled run index %d for a %d-run matrix; want [0, %d)", rep, r, m.runs, m.runs)
				}
				bufs[i].data[j] = m.data[r*m.tasks+j%m.tasks]
			}
		}
		f(bufs, vals[rep*k:(rep+1)*k])
	}
	return vals, nil
}

// intervals turns reps × k replicate values into percentile intervals around point:
// the (1−c)/2 and (1+c)/2 quantiles of each column, interpolated linearly between order
// statistics (np.percentile's default, which rliable's percentile method uses through
// arch).
func intervals(point, vals []float64, confidence float64) []Estimate {
	k := len(point)
	reps := len(vals) / k
	alpha := (1 - confidence) / 2
	col := make([]float64, reps)
	est := make([]Estimate, k)
	for j := range k {
		for rep := range reps {
			col[rep] = vals[rep*k+j]
		}
		slices.Sort(col)
		est[j] = Estimate{Value: point[j], Lo: percentile(col, alpha), Hi: percentile(col, 1-alpha)}
	}
	return est
}

// percentile is the q-quantile (q in [0, 1]) of sorted x with linear interpolation:
// position q·(n−1) between the neighbouring order statistics.
func percentile(x []float64, q float64) float64 {
	h := q * float64(len(x)-1)
	i := int(math.Floor(h))
	if i >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[i] + (h-float64(i))*(x[i+1]-x[i])
}
