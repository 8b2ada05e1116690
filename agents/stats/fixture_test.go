package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// fixture is testdata/fixture.json, written by testdata/gen_fixture.py (NumPy and
// SciPy, the calls rliable makes); see that script for what each field is.
type fixture struct {
	Gamma      float64   `json:"gamma"`
	Confidence float64   `json:"confidence"`
	Reps       int       `json:"reps"`
	Tau        []float64 `json:"tau"`
	Methods    []struct {
		Name                     string                        `json:"name"`
		Scores                   [][]float64                   `json:"scores"`
		Indices                  [][][]int                     `json:"indices"`
		IQM                      float64                       `json:"iqm"`
		Mean                     float64                       `json:"mean"`
		Median                   float64                       `json:"median"`
		OptimalityGap            float64                       `json:"optimality_gap"`
		ScoreDistribution        []float64                     `json:"score_distribution"`
		AverageScoreDistribution []float64                     `json:"average_score_distribution"`
		CI                       map[string][2]json.RawMessage `json:"ci"`
	} `json:"methods"`
	Pairs []struct {
		X           int        `json:"x"`
		Y           int        `json:"y"`
		Improvement float64    `json:"improvement"`
		XIndices    [][][]int  `json:"x_indices"`
		YIndices    [][][]int  `json:"y_indices"`
		CI          [2]float64 `json:"ci"`
	} `json:"pairs"`
	OwnRNG struct {
		Method      int        `json:"method"`
		X           int        `json:"x"`
		Y           int        `json:"y"`
		Reps        int        `json:"reps"`
		IQM         [2]float64 `json:"iqm"`
		Mean        [2]float64 `json:"mean"`
		Improvement [2]float64 `json:"improvement"`
	} `json:"own_rng"`
}

func loadFixture(t *testing.T) (*fixture, []*Scores) {
	t.Helper()
	data, err := os.ReadFile("testdata/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("testdata/fixture.json: %v", err)
	}
	var ms []*Scores
	for _, m := range f.Methods {
		ms = append(ms, mustScores(t, m.Scores))
	}
	return &f, ms
}

// flat turns replicates × runs × tasks index arrays into one row-major array each.
func flat(idx [][][]int) [][]int {
	out := make([][]int, len(idx))
	for i, rep := range idx {
		for _, row := range rep {
			out[i] = append(out[i], row...)
		}
	}
	return out
}

func scalar(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func vector(t *testing.T, raw json.RawMessage) []float64 {
	t.Helper()
	var v []float64
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

const fixtureTol = 1e-9

// Point estimates and, fed the fixture's own resampling indices, bootstrap intervals
// reproduce NumPy/SciPy to rounding.
func TestFixtureAggregates(t *testing.T) {
	f, ms := loadFixture(t)
	cfg := Config{Reps: f.Reps, ProfileReps: f.Reps, Confidence: f.Confidence}
	for k, m := range f.Methods {
		t.Run(m.Name, func(t *testing.T) {
			s := ms[k]
			metrics := []struct {
				key  string
				m    Metric
				want float64
			}{
				{"iqm", IQM, m.IQM}, {"mean", Mean, m.Mean}, {"median", Median, m.Median},
				{"optimality_gap", OptimalityGap(f.Gamma), m.OptimalityGap},
			}
			fs := make([]Metric, len(metrics))
			for i, mt := range metrics {
				fs[i] = mt.m
			}
			got, err := Bootstrap(s, cfg, &replay{idx: flat(m.Indices)}, fs...)
			if err != nil {
				t.Fatal(err)
			}
			for i, mt := range metrics {
				lo, hi := scalar(t, m.CI[mt.key][0]), scalar(t, m.CI[mt.key][1])
				if !near(got[i].Value, mt.want, fixtureTol) || !near(got[i].Lo, lo, fixtureTol) || !near(got[i].Hi, hi, fixtureTol) {
					t.Errorf("%s = %v; want %v [%v, %v]", mt.key, got[i], mt.want, lo, hi)
				}
			}
			for _, pc := range []struct {
				key  string
				p    Profile
				want []float64
			}{
				{"score_distribution", ScoreDistribution, m.ScoreDistribution},
				{"average_score_distribution", AverageScoreDistribution, m.AverageScoreDistribution},
			} {
				got, err := BootstrapProfile(s, pc.p, f.Tau, cfg, &replay{idx: flat(m.Indices)})
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := vector(t, m.CI[pc.key][0]), vector(t, m.CI[pc.key][1])
				for i := range f.Tau {
					if !near(got[i].Value, pc.want[i], fixtureTol) || !near(got[i].Lo, lo[i], fixtureTol) || !near(got[i].Hi, hi[i], fixtureTol) {
						t.Errorf("%s at τ=%v: %v; want %v [%v, %v]", pc.key, f.Tau[i], got[i], pc.want[i], lo[i], hi[i])
					}
				}
			}
		})
	}
}

// Probability of improvement per pair (SciPy's Mann–Whitney U) and its independent
// bootstrap interval; then the whole matrix from the same indices in its documented
// order (pairs i < j row-major, X then Y per replicate).
func TestFixtureImprovement(t *testing.T) {
	f, ms := loadFixture(t)
	cfg := Config{Reps: f.Reps, Confidence: f.Confidence}
	var all [][]int
	for _, p := range f.Pairs {
		var idx [][]int
		xs, ys := flat(p.XIndices), flat(p.YIndices)
		for rep := range xs {
			idx = append(idx, xs[rep], ys[rep])
		}
		all = append(all, idx...)
		got, err := BootstrapImprovement(ms[p.X], ms[p.Y], cfg, &replay{idx: idx})
		if err != nil {
			t.Fatal(err)
		}
		if !near(got.Value, p.Improvement, fixtureTol) || !near(got.Lo, p.CI[0], fixtureTol) || !near(got.Hi, p.CI[1], fixtureTol) {
			t.Errorf("P(%d > %d) = %v; want %v %v", p.X, p.Y, got, p.Improvement, p.CI)
		}
	}
	mat, err := ImprovementMatrix(ms, cfg, &replay{idx: all})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Pairs {
		got, back := mat[p.X][p.Y], mat[p.Y][p.X]
		if !near(got.Value, p.Improvement, fixtureTol) || !near(got.Lo, p.CI[0], fixtureTol) || !near(got.Hi, p.CI[1], fixtureTol) {
			t.Errorf("matrix[%d][%d] = %v; want %v %v", p.X, p.Y, got, p.Improvement, p.CI)
		}
		if !near(back.Value, 1-p.Improvement, fixtureTol) || !near(back.Lo, 1-p.CI[1], fixtureTol) || !near(back.Hi, 1-p.CI[0], fixtureTol) {
			t.Errorf("matrix[%d][%d] = %v; want the mirror of %v %v", p.Y, p.X, back, p.Improvement, p.CI)
		}
	}
}

// With Go's own seeded generator the interval ends must agree with the ends NumPy's
// generator gave (fixture own_rng), up to Monte Carlo error. An interval end is the
// empirical q-quantile of R replicates; at the true q-quantile the empirical CDF has
// standard deviation √(q(1−q)/R), so the two independent runs' CDFs differ there by
// σ = √(q(1−q)(1/R_go + 1/R_numpy)). The test accepts the NumPy end when it lies
// between Go's (q − 4σ)- and (q + 4σ)-quantiles: distribution-free (it also holds for
// the atoms of the improvement's distribution) and wrong by chance with probability
// about 6e-5 per end. A mistake in the resampling (say, mixing tasks) moves the ends
// by far more.
func TestFixtureOwnRNG(t *testing.T) {
	f, ms := loadFixture(t)
	const goReps = 20000
	cfg := Config{Reps: goReps, Confidence: f.Confidence}
	rng := rand.New(rand.NewPCG(2021, 12))
	o := f.OwnRNG
	q := (1 - f.Confidence) / 2
	sigma := math.Sqrt(q * (1 - q) * (1.0/goReps + 1.0/float64(o.Reps)))
	check := func(name string, vals []float64, want [2]float64) {
		t.Helper()
		vals = slices.Clone(vals)
		slices.Sort(vals)
		t.Logf("%s: Go [%.4f, %.4f] from %d replicates, NumPy [%.4f, %.4f] from %d", name,
			percentile(vals, q), percentile(vals, 1-q), len(vals), want[0], want[1], o.Reps)
		for i, p := range []float64{q, 1 - q} {
			lo, hi := percentile(vals, p-4*sigma), percentile(vals, p+4*sigma)
			if want[i] < lo-1e-12 || want[i] > hi+1e-12 {
				t.Errorf("%s: NumPy's %.3f-quantile %v outside Go's [%v, %v] (q ± 4σ, σ = %.4f)", name, p, want[i], lo, hi, sigma)
			}
		}
	}
	s := ms[o.Method]
	vals, err := replicates([]*Scores{s}, cfg, goReps, 2, Stratified(rng), func(b []*Scores, dst []float64) {
		dst[0], dst[1] = IQM(b[0]), Mean(b[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	iqm, mean := make([]float64, goReps), make([]float64, goReps)
	for i := range goReps {
		iqm[i], mean[i] = vals[2*i], vals[2*i+1]
	}
	check("IQM", iqm, o.IQM)
	check("mean", mean, o.Mean)
	poi, err := replicates([]*Scores{ms[o.X], ms[o.Y]}, cfg, goReps, 1, Stratified(rng), func(b []*Scores, dst []float64) {
		dst[0] = improvement(b[0], b[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	check("improvement", poi, o.Improvement)
}
