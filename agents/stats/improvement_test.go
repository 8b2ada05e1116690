package stats

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestImprovement(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y [][]float64
		want float64
	}{
		// rliable's test case (tests/rliable/metrics_test.py): per task, x = {1,2,1,2}
		// against y = {1,2,3}: x=1 ties once (0.5), x=2 beats 1 and ties 2 (1.5), so
		// (2·0.5 + 2·1.5)/12 = 1/3 on both tasks.
		{"rliable", [][]float64{{1, 2}, {2, 2}, {1, 1}, {2, 1}}, [][]float64{{1, 1}, {2, 2}, {3, 3}}, 1.0 / 3},
		{"single tie", [][]float64{{1}}, [][]float64{{1}}, 0.5},
		// 3 beats 2, 2, 1 (3); 1 loses to 2, 2 and ties 1 (0.5): 3.5 of 6 pairs.
		{"ties, 2 vs 3 runs", [][]float64{{3}, {1}}, [][]float64{{2}, {2}, {1}}, 3.5 / 6},
		// X wins every pair on task 0 and loses every pair on task 1.
		{"win one lose one", [][]float64{{10, 0}, {9, 1}}, [][]float64{{5, 5}}, 0.5},
		{"identical", [][]float64{{4, 7}, {5, 7}}, [][]float64{{4, 7}, {5, 7}}, 0.5},
		{"dominates", [][]float64{{100, 100}}, [][]float64{{0, 50}, {99, 0}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, y := mustScores(t, tc.x), mustScores(t, tc.y)
			got, err := Improvement(x, y)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := Improvement(y, x)
			if !near(got, tc.want, 1e-14) || !near(got+back, 1, 1e-14) {
				t.Fatalf("P(X>Y) = %v, P(Y>X) = %v; want %v and %v", got, back, tc.want, 1-tc.want)
			}
		})
	}
}

func TestImprovementTaskMismatch(t *testing.T) {
	x := mustScores(t, [][]float64{{1, 2}, {3, 4}})
	y := mustScores(t, [][]float64{{1, 2, 3}, {3, 4, 5}})
	const want = "method 0 has 2 tasks, method 1 has 3"
	if _, err := Improvement(x, y); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Improvement: err = %v; want %q", err, want)
	}
	rs := Stratified(rand.New(rand.NewPCG(1, 2)))
	if _, err := BootstrapImprovement(x, y, DefaultConfig(), rs); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("BootstrapImprovement: err = %v; want %q", err, want)
	}
	if _, err := ImprovementMatrix([]*Scores{x, x, y}, DefaultConfig(), rs); err == nil || !strings.Contains(err.Error(), "method 2 has 3;") {
		t.Errorf("ImprovementMatrix: err = %v; want it to name method 2", err)
	}
	if _, err := ImprovementMatrix([]*Scores{x}, DefaultConfig(), rs); err == nil {
		t.Error("ImprovementMatrix of one method: no error")
	}
}

// Different run counts are the normal case (rliable's independent bootstrap exists for
// them); the matrix must mirror and keep NaN off the diagonal only.
func TestImprovementMatrixShape(t *testing.T) {
	a := mustScores(t, [][]float64{{10, 20}, {30, 40}, {50, 60}})
	b := mustScores(t, [][]float64{{15, 25}, {35, 45}})
	c := mustScores(t, [][]float64{{0, 90}, {100, 10}, {20, 30}, {40, 50}})
	cfg := DefaultConfig()
	cfg.Reps = 500
	p, err := ImprovementMatrix([]*Scores{a, b, c}, cfg, Stratified(rand.New(rand.NewPCG(3, 4))))
	if err != nil {
		t.Fatal(err)
	}
	for i := range p {
		for j := range p {
			e := p[i][j]
			if i == j {
				if !math.IsNaN(e.Value) || !math.IsNaN(e.Lo) || !math.IsNaN(e.Hi) {
					t.Errorf("p[%d][%d] = %v; want NaN", i, j, e)
				}
				continue
			}
			if !(0 <= e.Lo && e.Lo <= e.Hi && e.Hi <= 1) {
				t.Errorf("p[%d][%d] = %v; want 0 ≤ Lo ≤ Hi ≤ 1", i, j, e)
			}
			m := p[j][i]
			if !near(e.Value+m.Value, 1, 1e-14) || !near(e.Lo+m.Hi, 1, 1e-14) || !near(e.Hi+m.Lo, 1, 1e-14) {
				t.Errorf("p[%d][%d] = %v, p[%d][%d] = %v; want mirror images", i, j, e, j, i, m)
			}
		}
	}
}
