package stats

import (
	"math"
	"strings"
	"testing"
)

func mustScores(t *testing.T, rows [][]float64) *Scores {
	t.Helper()
	s, err := NewScores(rows)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func TestNewScoresErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]float64
		want string
	}{
		{"nil", nil, "no runs"},
		{"no tasks", [][]float64{{}}, "no tasks"},
		{"ragged", [][]float64{{1, 2}, {3}}, "run 1 has 1 tasks, run 0 has 2"},
		{"NaN", [][]float64{{1, 2}, {3, math.NaN()}}, "run 1, task 1 is NaN"},
		{"Inf", [][]float64{{math.Inf(-1)}}, "run 0, task 0 is -Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewScores(tc.rows)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewScoresCopies(t *testing.T) {
	rows := [][]float64{{1, 2}, {3, 4}, {5, 6}}
	s := mustScores(t, rows)
	rows[1][0] = 99
	if s.Runs() != 3 || s.Tasks() != 2 || s.At(1, 0) != 3 || s.At(2, 1) != 6 {
		t.Fatalf("runs %d tasks %d At(1,0) %v At(2,1) %v; want 3, 2, 3, 6 (a copy)", s.Runs(), s.Tasks(), s.At(1, 0), s.At(2, 1))
	}
}

// IQM cuts floor(n/4) pooled scores from each end, as scipy.stats.trim_mean(x, 0.25):
// n < 4 cuts nothing, n = 5, 6, 7 cut one, n = 8, 9 cut two. The first two matrices are
// rliable's own test case (tests/rliable/metrics_test.py: IQM 1.5 and 2).
func TestIQM(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]float64
		want float64
	}{
		{"rliable x 4×2", [][]float64{{1, 2}, {2, 2}, {1, 1}, {2, 1}}, 1.5},
		{"rliable y 3×2", [][]float64{{1, 1}, {2, 2}, {3, 3}}, 2},
		{"n=1", [][]float64{{5}}, 5},
		{"n=2", [][]float64{{3, 1}}, 2},
		{"n=3 nothing cut", [][]float64{{9}, {1}, {2}}, 4},
		{"n=4 one each end", [][]float64{{100, 1}, {3, 2}}, 2.5},
		{"n=5 keeps 3", [][]float64{{4}, {100}, {1}, {3}, {2}}, 3},
		{"n=6 keeps 4", [][]float64{{100, 0, 4}, {2, 3, 1}}, 2.5},
		{"n=7 keeps 5", [][]float64{{5, -50, 1, 100, 2, 4, 3}}, 3},
		{"n=8 keeps 4", [][]float64{{0, 100, 1, 2}, {100, 3, 0, 4}}, 2.5},
		{"n=9 keeps 5", [][]float64{{9, 8, 7}, {1, 2, 3}, {6, 5, 4}}, 5},
		{"n=10 keeps 6", [][]float64{{0, 0, 1, 2, 3, 4, 5, 6, 100, 100}}, 3.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IQM(mustScores(t, tc.rows)); !near(got, tc.want, 1e-14) {
				t.Fatalf("IQM = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestMeanMedianOptimalityGap(t *testing.T) {
	for _, tc := range []struct {
		name                string
		rows                [][]float64
		gamma               float64
		mean, median, ogGap float64
	}{
		// rliable's test case: task means 1.5, 1.5 and 2, 2.
		{"rliable x", [][]float64{{1, 2}, {2, 2}, {1, 1}, {2, 1}}, 1, 1.5, 1.5, 0},
		{"rliable y", [][]float64{{1, 1}, {2, 2}, {3, 3}}, 2, 2, 2, 2 - (1+1+2+2+2+2)/6.0},
		// Task means 20, 60, 110: median is the middle task, not the pooled median.
		{"three tasks", [][]float64{{0, 50, 120}, {40, 70, 100}}, 100, 190 / 3.0, 60, 100 - (0+50+100+40+70+100)/6.0},
		// Even task count: median averages the two middle task means (10 and 30).
		{"four tasks", [][]float64{{0, 10, 30, 100}}, 100, 35, 20, 100 - 140/4.0},
		// Scores above gamma count as gamma: no gap left.
		{"all above gamma", [][]float64{{150, 101}, {100, 200}}, 100, 137.75, 137.75, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScores(t, tc.rows)
			if got := Mean(s); !near(got, tc.mean, 1e-14) {
				t.Errorf("Mean = %v; want %v", got, tc.mean)
			}
			if got := Median(s); !near(got, tc.median, 1e-14) {
				t.Errorf("Median = %v; want %v", got, tc.median)
			}
			if got := OptimalityGap(tc.gamma)(s); !near(got, tc.ogGap, 1e-14) {
				t.Errorf("OptimalityGap(%v) = %v; want %v", tc.gamma, got, tc.ogGap)
			}
		})
	}
}
