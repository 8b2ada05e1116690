package stats_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/evarl/evarl/agents/stats"
)

// The IQM and mean of five seeds on three tasks, with 95 % stratified-bootstrap
// intervals from a seeded generator.
func ExampleBootstrap() {
	scores, err := stats.NewScores([][]float64{ // one row per seed, one column per task
		{92, 40, 71},
		{88, 0, 65},
		{95, 55, 80},
		{60, 35, 74},
		{90, 48, 0},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	est, err := stats.Bootstrap(scores, stats.DefaultConfig(), stats.Stratified(rng), stats.IQM, stats.Mean)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("IQM", est[0])
	fmt.Println("mean", est[1])
	// Output:
	// IQM 64.6 [49.7, 72.4]
	// mean 59.5 [47.9, 69.3]
}

// Probability that a random run of method X beats one of method Y on the same task,
// averaged over tasks; the methods may have different numbers of seeds.
func ExampleImprovement() {
	x, _ := stats.NewScores([][]float64{{80, 60}, {90, 55}, {70, 65}})
	y, _ := stats.NewScores([][]float64{{75, 60}, {60, 40}})
	p, err := stats.Improvement(x, y)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("P(X > Y) = %.3f\n", p)
	// Output:
	// P(X > Y) = 0.792
}
