package classic

import (
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
)

// gymnasiumStepsPerSec is Gymnasium's speed on a 2-core machine of the kind evarl is
// developed on (random actions, one process), the baseline the benchmarks compare to.
var gymnasiumStepsPerSec = map[string]float64{
	CartPoleID:              130_000,
	MountainCarID:           58_000,
	MountainCarContinuousID: 160_000,
	AcrobotID:               22_000,
	PendulumID:              45_000,
}

// BenchmarkStep measures steps/s of each environment (with its time limit) on one
// goroutine under random actions, resetting when an episode ends, and reports the
// ratio to Gymnasium.
func BenchmarkStep(b *testing.B) {
	for _, id := range referenceEnvs {
		b.Run(id, func(b *testing.B) {
			env, err := envs.Make(id, nil)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			const nActs = 1024
			acts := make([][]float64, nActs)
			for i := range acts {
				acts[i] = make([]float64, env.ActionSpace().Dim())
				switch sp := env.ActionSpace().(type) {
				case envs.Discrete:
					acts[i][0] = float64(rng.IntN(sp.N))
				case envs.Box:
					acts[i][0] = sp.Low[0] + (sp.High[0]-sp.Low[0])*rng.Float64()
				}
			}
			if _, _, err := env.Reset(0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tr, err := env.Step(acts[i%nActs])
				if err != nil {
					b.Fatal(err)
				}
				if tr.Done() {
					env.Reset(envs.NoSeed)
				}
				i++
			}
			sps := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(sps, "steps/s")
			b.ReportMetric(sps/gymnasiumStepsPerSec[id], "x_gymnasium")
		})
	}
}
