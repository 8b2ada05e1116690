package agents

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
)

var (
	entropySweep       = flag.Bool("entropy-sweep", false, "run TestDiscreteEntropySweep: ODT from scratch on the small gridworld for several discrete entropy targets (minutes)")
	entropySweepTempLR = flag.Float64("entropy-sweep-temperature-lr", 1e-4, "TestDiscreteEntropySweep's temperature learning rate (ODT: 1e-4)")
)

// TestDiscreteEntropySweep measures what the discrete target entropy does where
// exploration is everything: ODT from an untrained policy and an empty buffer on the
// small gridworld (TestOnlineLearnsGridworld's setting), for shares of log N from 0
// (no entropy floor) to SAC-discrete's 0.98, over 8 seeds each; it reports the greedy
// success rate and mean return after training and the entropy of the last updates.
// With ODT's temperature learning rate (1e-4) λ moves by at most ~e^0.15 in these
// 1500 updates, so the target can hardly act; -entropy-sweep-temperature-lr raises it.
// Opt-in (-entropy-sweep): it is a measurement, not a check.
func TestDiscreteEntropySweep(t *testing.T) {
	if !*entropySweep {
		t.Skip("opt-in: go test ./agents -run TestDiscreteEntropySweep -entropy-sweep -v")
	}
	task := gridTask()
	for _, share := range []float64{0, 0.2, 0.5, 0.89, 0.98} {
		var succ, ret, ent, lam float64
		const seeds = 8
		solved := 0
		for seed := uint64(1); seed <= seeds; seed++ {
			rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
			m := stochasticModel(t, task, 32, 8, rng)
			cfg := smallOnline(20, 75)
			cfg.EpisodesPerIteration, cfg.NumEnvs, cfg.DiscreteEntropyShare = 8, 4, share
			cfg.TemperatureLR = *entropySweepTempLR
			o, err := NewOnline(m, nil, task, nil, cfg, rng)
			if err != nil {
				t.Fatal(err)
			}
			var last OnlineStats
			for !o.Done() {
				if last, err = o.Iterate(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Evaluate(context.Background(), m, []envs.Task{task},
				EvalConfig{Episodes: 40, NumEnvs: 8, Targets: []float64{1}, Seed: ValidationSeeds, Greedy: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			succ += res[0].SuccessRate / seeds
			ret += res[0].Mean / seeds
			ent += last.Entropy / seeds
			lam += last.Temperature / seeds
			if res[0].SuccessRate >= 0.8 {
				solved++
			}
		}
		t.Log(fmt.Sprintf("share %.2f (target %.3f nats of max %.3f): greedy success %.2f, return %.3f, solved (≥ 0.8) %d/%d, final entropy %.3f, λ %.4f",
			share, share*math.Log(3), math.Log(3), succ, ret, solved, seeds, ent, lam))
	}
}
