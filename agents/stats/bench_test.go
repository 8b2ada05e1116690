package stats

import (
	"math/rand/v2"
	"testing"
)

// benchScores is a method of the size the experiment runner reports: 5 seeds × 20
// tasks of scores in [0, 100].
func benchScores(b *testing.B, seed uint64) *Scores {
	rng := rand.New(rand.NewPCG(seed, 0))
	rows := make([][]float64, 5)
	for r := range rows {
		rows[r] = make([]float64, 20)
		for t := range rows[r] {
			rows[r][t] = 100 * rng.Float64()
		}
	}
	s, err := NewScores(rows)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// One method's four aggregates at the default 50000 replicates.
func BenchmarkBootstrapAggregates(b *testing.B) {
	s := benchScores(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Bootstrap(s, DefaultConfig(), Stratified(rand.New(rand.NewPCG(1, 2))), IQM, Mean, Median, OptimalityGap(DefaultGamma)); err != nil {
			b.Fatal(err)
		}
	}
}

// One pair's probability of improvement at the default 50000 replicates; a matrix of
// k methods costs k(k−1)/2 of these.
func BenchmarkBootstrapImprovement(b *testing.B) {
	x, y := benchScores(b, 1), benchScores(b, 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BootstrapImprovement(x, y, DefaultConfig(), Stratified(rand.New(rand.NewPCG(1, 2)))); err != nil {
			b.Fatal(err)
		}
	}
}

// One method's run-score profile on 101 thresholds at the default 2000 replicates.
func BenchmarkBootstrapProfile(b *testing.B) {
	s := benchScores(b, 1)
	tau := make([]float64, 101)
	for i := range tau {
		tau[i] = float64(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BootstrapProfile(s, ScoreDistribution, tau, DefaultConfig(), Stratified(rand.New(rand.NewPCG(1, 2)))); err != nil {
			b.Fatal(err)
		}
	}
}
