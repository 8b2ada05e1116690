package expert

import (
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/classic"
)

// eachTask builds every task of the named task sets with its noise-free expert and
// calls f with them, in the sets' order.
func eachTask(t *testing.T, keys []string, f func(task envs.Task, env envs.Env, pol Policy)) {
	t.Helper()
	for _, key := range keys {
		set, err := envs.LookupTaskSet(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range set.Tasks {
			env, err := task.Make()
			if err != nil {
				t.Fatal(err)
			}
			pol, err := New(task.EnvID, env, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			f(task, env, pol)
		}
	}
}

// rollout runs the noise-free expert for one episode and returns its return.
func rollout(t testing.TB, env envs.Env, envID string, seed int64) float64 {
	t.Helper()
	pol, err := New(envID, env, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rolloutWith(t, env, pol, seed)
}

// rolloutWith runs one episode of pol, built for env, and returns its return.
func rolloutWith(t testing.TB, env envs.Env, pol Policy, seed int64) float64 {
	t.Helper()
	obs, _, err := env.Reset(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := pol.Reset(); err != nil {
		t.Fatal(err)
	}
	act := make([]float64, env.ActionSpace().Dim())
	total := 0.0
	for {
		if err := pol.Act(obs, act); err != nil {
			t.Fatal(err)
		}
		tr, err := env.Step(act)
		if err != nil {
			t.Fatal(err)
		}
		total += tr.Reward
		obs = tr.Obs
		if tr.Done() {
			return total
		}
	}
}

// meanReturn averages the expert's return over seeds 0..n−1 on one task.
func meanReturn(t testing.TB, envID string, opts envs.Options, n int) float64 {
	t.Helper()
	env, err := envs.Make(envID, opts)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for seed := range n {
		sum += rollout(t, env, envID, int64(seed))
	}
	return sum / float64(n)
}

// TestClassicExperts proves the required expert returns at noise 0, averaged over 20
// seeds, on the default variant and on every variant of the family's task sets.
func TestClassicExperts(t *testing.T) {
	tests := []struct {
		envID, family string
		want          float64
	}{
		{"CartPole-v1", "cartpole", 475},
		{"MountainCar-v0", "mountaincar", -110},
		{"MountainCarContinuous-v0", "mountaincarcontinuous", 90},
		{"Acrobot-v1", "acrobot", -100},
		// Pendulum has no success threshold; the expert's return depends on how
		// many swings a variant needs (heldout-03, heavier and longer, about −220).
		// TestPendulumExpertSwingsUp checks what solving it means.
		{"Pendulum-v1", "pendulum", -300},
	}
	for _, tc := range tests {
		t.Run(tc.family, func(t *testing.T) {
			tasks := []envs.Task{{ID: tc.family + "/default", EnvID: tc.envID}}
			for _, name := range []string{"heldout", "pretrain"} {
				set, err := envs.LookupTaskSet(tc.family + "/" + name)
				if err != nil {
					t.Fatal(err)
				}
				tasks = append(tasks, set.Tasks...)
			}
			for _, task := range tasks {
				got := meanReturn(t, task.EnvID, task.Options, 20)
				t.Logf("%s %v: mean return %.1f", task.ID, task.Options, got)
				if got < tc.want {
					t.Errorf("%s %v: mean return over 20 seeds = %.1f, want ≥ %v", task.ID, task.Options, got, tc.want)
				}
			}
		})
	}
}
