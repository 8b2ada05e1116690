package eva

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Hand-computed cases: the expected ranks come from sorting the pooled values by
// hand (ties by layer, then component order) and applying the owner swap.
func TestRedistribute(t *testing.T) {
	tests := []struct {
		name    string
		ratios  [][]float64
		maxComp []int
		budget  int
		owner   []int
		want    []int
	}{
		{
			name:    "more variance, more rank",
			ratios:  [][]float64{{0.5, 0.3, 0.1, 0.05}, {0.2, 0.1, 0.05, 0.01}},
			maxComp: []int{4, 4}, budget: 4, owner: []int{0, 1},
			want: []int{3, 1}, // 0.5a 0.3a 0.2b 0.1a|0.1b: tie at 0.1 goes to layer a
		},
		{
			name:    "tie broken by layer order",
			ratios:  [][]float64{{0.5, 0.2}, {0.3, 0.2, 0.1, 0.05}},
			maxComp: []int{2, 4}, budget: 3, owner: []int{0, 1},
			want: []int{2, 1}, // 0.5a 0.3b, then 0.2a before 0.2b
		},
		{
			name:    "a layer gets rank 0",
			ratios:  [][]float64{{0.6, 0.2, 0.1, 0.05}, {0.01, 0.005, 0.002, 0.001}},
			maxComp: []int{4, 4}, budget: 4, owner: []int{0, 1},
			want: []int{4, 0},
		},
		{
			name:    "maximum rank caps a layer",
			ratios:  [][]float64{{0.6, 0.2, 0.1, 0.05}, {0.01, 0.005, 0.002, 0.001}},
			maxComp: []int{3, 4}, budget: 4, owner: []int{0, 1},
			want: []int{3, 1},
		},
		{
			name: "shared q,k,v compete with o",
			ratios: [][]float64{
				{0.3, 0.2, 0.1, 0.05}, {0.3, 0.2, 0.1, 0.05}, {0.3, 0.2, 0.1, 0.05}, // q, k, v: one PCA
				{0.6, 0.5, 0.4, 0.35}, // o
			},
			maxComp: []int{4, 4, 4, 4}, budget: 8, owner: []int{0, 0, 0, 3},
			// 0.6o 0.5o 0.4o 0.35o 0.3q 0.3k 0.3v 0.2q
			want: []int{2, 1, 1, 4},
		},
		{
			name:    "owner takes the group's largest rank",
			ratios:  [][]float64{{0.4, 0.3, 0.2}, {0.4, 0.3, 0.2}},
			maxComp: []int{1, 3}, budget: 3, owner: []int{0, 0},
			want: []int{2, 1}, // 0.4q 0.4k 0.3k gives q1 k2; swapped
		},
		{
			name:    "budget larger than the pool",
			ratios:  [][]float64{{0.5, 0.4}, {0.1}},
			maxComp: []int{2, 1}, budget: 5, owner: []int{0, 1},
			want: []int{2, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redistribute(tt.ratios, tt.maxComp, tt.budget, tt.owner)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ranks = %v, want %v", got, tt.want)
			}
		})
	}
}

// With rho = 1 every layer offers exactly r values and the budget is Σ r, so every
// value is kept: each layer keeps r whatever its variances.
func TestRedistributeRhoOneKeepsRanks(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	cfg := DefaultConfig()
	cfg.Rho = 1
	for trial := 0; trial < 50; trial++ {
		n := 1 + rng.IntN(8)
		var ratios [][]float64
		var maxComp, owner, r []int
		budget := 0
		for i := 0; i < n; i++ {
			ri := 1 + rng.IntN(8)
			v := make([]float64, ri)
			for j := range v {
				v[j] = rng.Float64()
			}
			slices.Sort(v)
			slices.Reverse(v)
			ratios = append(ratios, v)
			maxComp = append(maxComp, cfg.MaxComponents(ri))
			owner = append(owner, i)
			r = append(r, ri)
			budget += ri
		}
		if got := redistribute(ratios, maxComp, budget, owner); !slices.Equal(got, r) {
			t.Fatalf("trial %d: ranks %v, want the nominal %v", trial, got, r)
		}
	}
}

func TestMaxComponentsRoundsHalfToEven(t *testing.T) {
	cfg := DefaultConfig()
	for _, tt := range []struct {
		r    int
		rho  float64
		want int
	}{{8, 2, 16}, {4, 1, 4}, {1, 1.5, 2}, {5, 1.5, 8}, {3, 1.5, 4}, {8, 1.25, 10}} {
		cfg.Rho = tt.rho
		if got := cfg.MaxComponents(tt.r); got != tt.want {
			t.Errorf("round(%d·%v) = %d, want %d", tt.r, tt.rho, got, tt.want)
		}
	}
}
