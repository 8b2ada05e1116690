package expert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

// shortestPath counts the steps of the shortest action sequence from (x, y, h) to
// the goal by a forward breadth-first search that simulates the moves on the map: a
// search in the opposite direction from the expert's backward one.
func shortestPath(e *gridworld.Env, x, y, h int) int {
	type state struct{ x, y, h int }
	dx := [4]int{1, 0, -1, 0}
	dy := [4]int{0, 1, 0, -1}
	dist := map[state]int{{x, y, h}: 0}
	queue := []state{{x, y, h}}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, nx := range []state{
			{s.x, s.y, (s.h + 3) % 4},
			{s.x, s.y, (s.h + 1) % 4},
			{s.x + dx[s.h], s.y + dy[s.h], s.h},
		} {
			switch e.CellAt(nx.x, nx.y) {
			case gridworld.Wall, gridworld.Lava:
				continue
			case gridworld.Goal:
				return dist[s] + 1
			}
			if _, ok := dist[nx]; !ok {
				dist[nx] = dist[s] + 1
				queue = append(queue, nx)
			}
		}
	}
	return -1
}

func TestGridworldExpert(t *testing.T) {
	const seeds = 20
	for _, key := range []string{"gridworld/pretrain", "gridworld/heldout"} {
		set, err := envs.LookupTaskSet(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range set.Tasks {
			env, err := task.Make()
			if err != nil {
				t.Fatal(err)
			}
			g, _ := envs.As[*gridworld.Env](env)
			p, err := New(task.EnvID, env, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			successes := 0
			act := make([]float64, 1)
			for seed := range int64(seeds) {
				obs, _, err := env.Reset(seed)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Reset(); err != nil {
					t.Fatal(err)
				}
				x, y, h := g.Agent()
				want := shortestPath(g, x, y, h)
				steps, ret := 0, 0.0
				var tr envs.Transition
				for !tr.Done() {
					if err := p.Act(obs, act); err != nil {
						t.Fatalf("%s seed %d: %v", task.ID, seed, err)
					}
					if tr, err = env.Step(act); err != nil {
						t.Fatalf("%s seed %d: %v", task.ID, seed, err)
					}
					obs = tr.Obs
					steps++
					ret += tr.Reward
				}
				if tr.Info.Success {
					successes++
				}
				if steps != want {
					t.Errorf("%s seed %d: expert took %d steps, shortest path from (%d,%d,%d) is %d", task.ID, seed, steps, x, y, h, want)
				}
				if wantRet := 1 - 0.9*float64(want)/float64(g.Horizon()); tr.Info.Success && math.Abs(ret-wantRet) > 1e-12 {
					t.Errorf("%s seed %d: return %v, want %v", task.ID, seed, ret, wantRet)
				}
			}
			if rate := float64(successes) / seeds; rate < 0.99 {
				t.Errorf("%s: success rate %.2f at noise 0, want ≥ 0.99", task.ID, rate)
			}
		}
	}
}

// TestGridworldExpertNoise checks that noise really perturbs the expert: at noise 1
// (a uniformly random policy) success on a maze drops well below the expert's.
func TestGridworldExpertNoise(t *testing.T) {
	env, err := envs.Make(gridworld.ID, envs.Options{"layout": "maze", "task_seed": 7, "max_episode_steps": 60})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p, err := New(gridworld.ID, env, 1, rng)
	if err != nil {
		t.Fatal(err)
	}
	successes := 0
	act := make([]float64, 1)
	for seed := range int64(20) {
		obs, _, _ := env.Reset(seed)
		p.Reset()
		var tr envs.Transition
		for !tr.Done() {
			if err := p.Act(obs, act); err != nil {
				t.Fatal(err)
			}
			if tr, err = env.Step(act); err != nil {
				t.Fatal(err)
			}
			obs = tr.Obs
		}
		if tr.Info.Success {
			successes++
		}
	}
	if successes > 10 {
		t.Errorf("random policy reached the goal in %d of 20 maze episodes; want far fewer than the expert", successes)
	}
}

func TestGridworldExpertWrongEnv(t *testing.T) {
	if _, err := newGridworld(envs.NewTimeLimit(notGridworldEnv{}, 10)); err == nil {
		t.Error("gridworld expert accepted a non-gridworld environment")
	}
}

type notGridworldEnv struct{}

func (notGridworldEnv) ObservationSpace() envs.Space { return envs.NewBox([]float64{0}, []float64{1}) }
func (notGridworldEnv) ActionSpace() envs.Space      { return envs.Discrete{N: 3} }
func (notGridworldEnv) Reset(int64) ([]float64, envs.Info, error) {
	return []float64{0}, envs.Info{}, nil
}
func (notGridworldEnv) Step([]float64) (envs.Transition, error) { return envs.Transition{}, nil }

// TestGridworldPermutationNeedsAdaptation checks that the held-out permutations really
// change the task: the same shortest-path plan acted out with the pretraining action
// meanings (the action that made each move before the permutation) fails on every
// permuted held-out task.
func TestGridworldPermutationNeedsAdaptation(t *testing.T) {
	set, err := envs.LookupTaskSet("gridworld/heldout")
	if err != nil {
		t.Fatal(err)
	}
	permuted := 0
	for _, task := range set.Tasks {
		if _, ok := task.Options["action_permutation"]; !ok {
			continue
		}
		permuted++
		opts := task.Options.Clone()
		opts["max_episode_steps"] = 100
		env, err := envs.Make(task.EnvID, opts)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := envs.As[*gridworld.Env](env)
		p, err := New(task.EnvID, env, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		successes := 0
		act := make([]float64, 1)
		for seed := range int64(20) {
			obs, _, _ := env.Reset(seed)
			var tr envs.Transition
			for !tr.Done() {
				if err := p.Act(obs, act); err != nil {
					t.Fatal(err)
				}
				act[0] = float64(g.MoveOf(int(act[0]))) // the unpermuted action for that move
				if tr, err = env.Step(act); err != nil {
					t.Fatal(err)
				}
				obs = tr.Obs
			}
			if tr.Info.Success {
				successes++
			}
		}
		if successes > 5 {
			t.Errorf("%s: the plan with unpermuted actions succeeded %d of 20 times; the permutation should defeat it", task.ID, successes)
		}
	}
	if permuted == 0 {
		t.Fatal("no held-out task permutes actions")
	}
}
