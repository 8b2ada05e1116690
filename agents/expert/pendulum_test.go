package expert

import (
	"math"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

// TestPendulumExpertSwingsUp measures what solving Pendulum means, on every
// pretraining and held-out variant over 200 reset seeds: the expert swings the
// pendulum up and then holds it upright (|θ| < 0.1 rad, |θ̇| < 1 rad/s) at every step
// until the time limit, having got there by step 190 of 200. The rate must be
// ≥ 99 %. (Returns differ by variant: heavier, longer pendulums under stronger
// gravity need more swings, so a return threshold would not say the same.)
func TestPendulumExpertSwingsUp(t *testing.T) {
	const seeds = 200
	eachTask(t, []string{"pendulum/pretrain", "pendulum/heldout"}, func(task envs.Task, env envs.Env, pol Policy) {
		pe, _ := envs.As[*classic.Pendulum](env)
		act := make([]float64, 1)
		solved, latest := 0, 0
		for seed := range int64(seeds) {
			obs, _, err := env.Reset(1000 + seed)
			if err != nil {
				t.Fatal(err)
			}
			if err := pol.Reset(); err != nil {
				t.Fatal(err)
			}
			upSince := -1 // first step of the current upright stretch
			for step := 0; ; step++ {
				if err := pol.Act(obs, act); err != nil {
					t.Fatal(err)
				}
				tr, err := env.Step(act)
				if err != nil {
					t.Fatal(err)
				}
				obs = tr.Obs
				s := pe.State()
				if math.Abs(classic.AngleNormalize(s[0])) < 0.1 && math.Abs(s[1]) < 1 {
					if upSince < 0 {
						upSince = step
					}
				} else {
					upSince = -1
				}
				if tr.Done() {
					break
				}
			}
			if upSince >= 0 && upSince < 190 {
				solved++
				latest = max(latest, upSince)
			}
		}
		rate := float64(solved) / seeds
		t.Logf("%s %v: upright to the end in %.3f of %d episodes, by step %d at the latest", task.ID, task.Options, rate, seeds, latest)
		if rate < 0.99 {
			t.Errorf("%s %v: the expert swings up and holds in %.3f of %d episodes, want ≥ 0.99", task.ID, task.Options, rate, seeds)
		}
	})
}
