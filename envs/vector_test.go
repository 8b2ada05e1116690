package envs_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

// vectorTasks are heterogeneous gridworld tasks (same spaces, different maps and
// action permutations) with a short time limit, so that a run of a few hundred steps
// has both terminations and truncations.
var vectorTasks = []envs.Options{
	{"layout": "rooms", "task_seed": 1, "max_episode_steps": 25},
	{"layout": "maze", "task_seed": 2, "max_episode_steps": 40},
	{"layout": "lava", "task_seed": 3, "max_episode_steps": 30},
	{"layout": "rooms", "task_seed": 4, "max_episode_steps": 15, "random_start": true},
	{"layout": "lava", "task_seed": 5, "max_episode_steps": 50, "action_permutation": []int{1, 2, 0}},
}

func makeTaskEnvs(t testing.TB) []envs.Env {
	t.Helper()
	list := make([]envs.Env, len(vectorTasks))
	for i, o := range vectorTasks {
		e, err := envs.Make(gridworld.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		list[i] = e
	}
	return list
}

// sequentialStep is the reference: what the Vector must do, written as a plain loop
// over separately built environments.
type reference struct {
	envs     []envs.Env
	obs      [][]float64
	finalObs [][]float64
}

func newReference(t *testing.T, seed int64) *reference {
	r := &reference{envs: makeTaskEnvs(t)}
	for i, e := range r.envs {
		obs, _, err := e.Reset(seed + int64(i))
		if err != nil {
			t.Fatal(err)
		}
		r.obs = append(r.obs, slices.Clone(obs))
		r.finalObs = append(r.finalObs, nil)
	}
	return r
}

func (r *reference) step(t *testing.T, i int, action []float64) envs.Transition {
	tr, err := r.envs[i].Step(action)
	if err != nil {
		t.Fatal(err)
	}
	r.finalObs[i] = nil
	r.obs[i] = slices.Clone(tr.Obs)
	if tr.Done() {
		r.finalObs[i] = r.obs[i]
		obs, _, err := r.envs[i].Reset(envs.NoSeed)
		if err != nil {
			t.Fatal(err)
		}
		r.obs[i] = slices.Clone(obs)
	}
	return tr
}

func TestVectorMatchesSequential(t *testing.T) {
	const seed, steps = 100, 400
	n := len(vectorTasks)
	for _, workers := range []int{1, 2, 3, n, 0} {
		vec, err := envs.NewVector(makeTaskEnvs(t), workers)
		if err != nil {
			t.Fatal(err)
		}
		defer vec.Close()
		ref := newReference(t, seed)
		obs, err := vec.Reset(seed)
		if err != nil {
			t.Fatal(err)
		}
		d := vec.ObsDim()
		for i := range n {
			if !slices.Equal(obs[i*d:(i+1)*d], ref.obs[i]) {
				t.Fatalf("workers %d: Reset obs of env %d differs from env.Reset(seed+%d)", workers, i, i)
			}
		}
		rng := rand.New(rand.NewPCG(7, 8))
		actions := make([]float64, n)
		dones := 0
		for step := range steps {
			for i := range actions {
				actions[i] = float64(rng.IntN(3))
			}
			res, err := vec.Step(actions)
			if err != nil {
				t.Fatalf("workers %d step %d: %v", workers, step, err)
			}
			for i := range n {
				want := ref.step(t, i, actions[i:i+1])
				if res.Rewards[i] != want.Reward || res.Terminated[i] != want.Terminated ||
					res.Truncated[i] != want.Truncated || res.Infos[i] != want.Info {
					t.Fatalf("workers %d step %d env %d: got (%v %v %v %+v), want (%v %v %v %+v)", workers, step, i,
						res.Rewards[i], res.Terminated[i], res.Truncated[i], res.Infos[i],
						want.Reward, want.Terminated, want.Truncated, want.Info)
				}
				if !slices.Equal(res.Obs[i*d:(i+1)*d], ref.obs[i]) {
					t.Fatalf("workers %d step %d env %d: obs differs from sequential stepping", workers, step, i)
				}
				if want.Done() {
					dones++
					if !slices.Equal(res.FinalObs[i*d:(i+1)*d], ref.finalObs[i]) {
						t.Fatalf("workers %d step %d env %d: final obs differs", workers, step, i)
					}
				}
			}
		}
		if dones < 2*n {
			t.Errorf("workers %d: only %d episodes ended in %d steps; the test needs autoresets", workers, dones, steps)
		}
	}
}

func TestVectorErrors(t *testing.T) {
	vec, err := envs.NewVector(makeTaskEnvs(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer vec.Close()
	n := vec.Len()
	act := make([]float64, n)
	if _, err := vec.Step(act); !errors.Is(err, envs.ErrEpisodeOver) {
		t.Errorf("Step before Reset: err = %v, want ErrEpisodeOver", err)
	}
	if _, err := vec.Reset(-3); err == nil {
		t.Errorf("Reset(-3): no error")
	}
	if _, err := vec.Reset(0); err != nil {
		t.Fatal(err)
	}
	if _, err := vec.Step(act[:n-1]); err == nil || !strings.Contains(err.Error(), "action values") {
		t.Errorf("Step with %d actions: err = %v", n-1, err)
	}
	act[2] = 7
	if _, err := vec.Step(act); err == nil || !strings.Contains(err.Error(), "vector env 2") {
		t.Errorf("Step with a bad action for env 2: err = %v, want one naming env 2", err)
	}
	act[2] = 0
	if _, err := vec.Step(act); !errors.Is(err, envs.ErrEpisodeOver) {
		t.Errorf("Step after a failed Step: err = %v, want ErrEpisodeOver until Reset", err)
	}
	vec.Close()
	if _, err := vec.Reset(0); err == nil {
		t.Errorf("Reset after Close: no error")
	}

	if _, err := envs.NewVector(nil, 1); err == nil {
		t.Errorf("NewVector(nil): no error")
	}
	a, _ := envs.Make(gridworld.ID, nil)
	b, _ := envs.Make(gridworld.ID, envs.Options{"view": 5})
	if _, err := envs.NewVector([]envs.Env{a, b}, 1); err == nil || !strings.Contains(err.Error(), "observation space") {
		t.Errorf("NewVector with different observation spaces: err = %v", err)
	}
	if _, err := envs.MakeVector("NoSuchEnv-v9", nil, 2, 1); err == nil {
		t.Errorf("MakeVector of an unknown id: no error")
	}
}

func TestVectorStepAllocs(t *testing.T) {
	for _, workers := range []int{1, 2} {
		vec, err := envs.MakeVector(gridworld.ID, envs.Options{"max_episode_steps": 20}, 4, workers)
		if err != nil {
			t.Fatal(err)
		}
		defer vec.Close()
		if _, err := vec.Reset(0); err != nil {
			t.Fatal(err)
		}
		act := make([]float64, 4)
		k := 0
		allocs := testing.AllocsPerRun(200, func() {
			for i := range act {
				act[i] = float64((k + i) % 3)
			}
			k++
			if _, err := vec.Step(act); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("workers %d: %v allocations per Step, want 0", workers, allocs)
		}
	}
}

func BenchmarkVectorStep(b *testing.B) {
	const n = 8
	for _, workers := range []int{1, 2} {
		b.Run(gridworld.ID+"/envs=8/workers="+string(rune('0'+workers)), func(b *testing.B) {
			vec, err := envs.MakeVector(gridworld.ID, nil, n, workers)
			if err != nil {
				b.Fatal(err)
			}
			defer vec.Close()
			if _, err := vec.Reset(0); err != nil {
				b.Fatal(err)
			}
			act := make([]float64, n)
			b.ReportAllocs()
			for k := 0; b.Loop(); k++ {
				for i := range act {
					act[i] = float64((k*7 + i) % 5 % 3)
				}
				if _, err := vec.Step(act); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}
