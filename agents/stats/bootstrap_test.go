package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// replay is a Resampler that hands out recorded index arrays in order, such as the
// ones the NumPy fixture used.
type replay struct {
	idx  [][]int
	next int
}

func (r *replay) Resample(idx []int, runs, tasks int) error {
	if r.next >= len(r.idx) {
		return errors.New("replay: out of recorded indices")
	}
	src := r.idx[r.next]
	r.next++
	if len(src) != len(idx) || len(idx) != runs*tasks {
		return fmt.Errorf("replay: recorded %d indices for a %d×%d matrix", len(src), runs, tasks)
	}
	copy(idx, src)
	return nil
}

// A hand-computed bootstrap of the mean of [[0, 10], [100, 30]] from five replicates.
// Index r*2+t picks the run of task t for replicate row r, so for example [0,1,1,0]
// gives rows (0, 30) and (100, 10), mean 35. The replicate means sort to 5, 15, 35,
// 55, 65; linear interpolation at q·4 gives the ends.
func TestBootstrapHand(t *testing.T) {
	s := mustScores(t, [][]float64{{0, 10}, {100, 30}})
	idx := [][]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 1, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}
	for _, tc := range []struct {
		confidence, lo, hi float64
	}{
		{0.5, 15, 55}, // q = 0.25, 0.75: order statistics 1 and 3 exactly
		{0.8, 9, 61},  // q = 0.1 → 5 + 0.4·10; q = 0.9 → 55 + 0.6·10
		{0.999, 5.02, 64.98},
	} {
		cfg := Config{Reps: len(idx), Confidence: tc.confidence}
		got, err := Bootstrap(s, cfg, &replay{idx: idx}, Mean)
		if err != nil {
			t.Fatal(err)
		}
		want := Estimate{Value: 35, Lo: tc.lo, Hi: tc.hi}
		if !near(got[0].Value, want.Value, 1e-12) || !near(got[0].Lo, want.Lo, 1e-12) || !near(got[0].Hi, want.Hi, 1e-12) {
			t.Errorf("confidence %v: %+v; want %+v", tc.confidence, got[0], want)
		}
	}
}

func TestBootstrapErrors(t *testing.T) {
	two := mustScores(t, [][]float64{{1, 2}, {3, 4}})
	one := mustScores(t, [][]float64{{1, 2}})
	rs := func() Resampler { return Stratified(rand.New(rand.NewPCG(1, 1))) }
	cfg := DefaultConfig()
	cfg.Reps, cfg.ProfileReps = 10, 10
	failing := errors.New("resampler failed")
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"one run", func() error { _, err := Bootstrap(one, cfg, rs(), IQM); return err }, "at least 2 runs per task, matrix 0 has 1"},
		{"one run in Y", func() error { _, err := BootstrapImprovement(two, one, cfg, rs()); return err }, "matrix 1 has 1"},
		{"one run profile", func() error {
			_, err := BootstrapProfile(one, ScoreDistribution, []float64{0}, cfg, rs())
			return err
		}, "at least 2 runs"},
		{"no metric", func() error { _, err := Bootstrap(two, cfg, rs()); return err }, "at least one metric"},
		{"nil resampler", func() error { _, err := Bootstrap(two, cfg, nil, IQM); return err }, "nil Resampler"},
		{"nil rng", func() error { _, err := Bootstrap(two, cfg, Stratified(nil), IQM); return err }, "nil *rand.Rand"},
		{"zero reps", func() error { _, err := Bootstrap(two, Config{Confidence: 0.95}, rs(), IQM); return err }, "reps 0"},
		{"zero profile reps", func() error {
			_, err := BootstrapProfile(two, ScoreDistribution, []float64{0}, Config{Reps: 10, Confidence: 0.95}, rs())
			return err
		}, "reps 0"},
		{"confidence 1", func() error { _, err := Bootstrap(two, Config{Reps: 10, Confidence: 1}, rs(), IQM); return err }, "confidence 1"},
		{"confidence NaN", func() error {
			_, err := Bootstrap(two, Config{Reps: 10, Confidence: math.NaN()}, rs(), IQM)
			return err
		}, "confidence NaN"},
		{"index out of range", func() error {
			_, err := Bootstrap(two, cfg, &replay{idx: [][]int{{0, 1, 2, 0}}}, IQM)
			return err
		}, "run index 2 for a 2-run matrix"},
		{"resampler error", func() error {
			_, err := Bootstrap(two, cfg, resamplerFunc(func([]int, int, int) error { return failing }), IQM)
			if !errors.Is(err, failing) {
				return fmt.Errorf("not wrapped: %v", err)
			}
			return err
		}, "replicate 0: resampler failed"},
		{"nil profile", func() error { _, err := BootstrapProfile(two, nil, []float64{0}, cfg, rs()); return err }, "nil Profile"},
		{"no thresholds", func() error { _, err := BootstrapProfile(two, ScoreDistribution, nil, cfg, rs()); return err }, "no thresholds"},
		{"NaN threshold", func() error {
			_, err := BootstrapProfile(two, ScoreDistribution, []float64{0, math.NaN()}, cfg, rs())
			return err
		}, "threshold 1 is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

type resamplerFunc func(idx []int, runs, tasks int) error

func (f resamplerFunc) Resample(idx []int, runs, tasks int) error { return f(idx, runs, tasks) }

// The same seed gives the same intervals; another seed gives others.
func TestBootstrapDeterministic(t *testing.T) {
	s := mustScores(t, [][]float64{{10, 80, 33}, {20, 60, 35}, {90, 70, 31}, {40, 75, 50}})
	cfg := DefaultConfig()
	cfg.Reps = 2000
	run := func(seed uint64) []Estimate {
		e, err := Bootstrap(s, cfg, Stratified(rand.New(rand.NewPCG(seed, 0))), IQM, Mean, Median, OptimalityGap(DefaultGamma))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, c := run(1), run(1), run(2)
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("metric %d: %v then %v with the same seed", i, a[i], b[i])
		}
		if !(a[i].Lo <= a[i].Hi) {
			t.Errorf("metric %d: %v; want Lo ≤ Hi", i, a[i])
		}
	}
	if a[0] == c[0] && a[1] == c[1] {
		t.Errorf("seeds 1 and 2 gave identical intervals %v", a[:2])
	}
}

// Stratified draws every cell independently and uniformly: each of 3 runs appears in a
// third of the 60000 draws, and the two tasks of a replicate row pick the same run a
// third of the time (not always, as resampling whole seeds would), each within 5
// binomial standard deviations.
func TestStratifiedUniform(t *testing.T) {
	const runs, tasks, reps = 3, 2, 10000
	rs := Stratified(rand.New(rand.NewPCG(5, 6)))
	idx := make([]int, runs*tasks)
	var count [runs]int
	same := 0
	for range reps {
		if err := rs.Resample(idx, runs, tasks); err != nil {
			t.Fatal(err)
		}
		for i, r := range idx {
			count[r]++
			if i%tasks == 0 && idx[i+1] == r {
				same++
			}
		}
	}
	within := func(name string, k, n int) {
		sd := math.Sqrt(1.0 / 3 * 2 / 3 / float64(n))
		if got := float64(k) / float64(n); math.Abs(got-1.0/3) > 5*sd {
			t.Errorf("%s: %.4f; want 1/3 ± %.4f", name, got, 5*sd)
		}
	}
	for r, c := range count {
		within(fmt.Sprintf("share of run %d", r), c, reps*runs*tasks)
	}
	within("same run on both tasks", same, reps*runs)
}

func TestProfiles(t *testing.T) {
	// Pooled scores 0, 50, 100, 20; task means 50 and 35.
	s := mustScores(t, [][]float64{{0, 50}, {100, 20}})
	tau := []float64{-1, 0, 20, 35, 50, 99.9, 100}
	for _, tc := range []struct {
		name string
		p    Profile
		want []float64
	}{
		// Strictly greater: a score equal to τ does not count.
		{"run scores", ScoreDistribution, []float64{1, 0.75, 0.5, 0.5, 0.25, 0.25, 0}},
		{"task means", AverageScoreDistribution, []float64{1, 1, 1, 0.5, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p(s, tau)
			for i := range tau {
				if got[i] != tc.want[i] {
					t.Fatalf("profile = %v; want %v", got, tc.want)
				}
			}
		})
	}
}
