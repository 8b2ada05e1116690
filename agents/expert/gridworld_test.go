package expert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

// shortestPath counts the steps of the shortest action sequence from (x, y, h) to
// the goal by a forward breadth-first search over the environment's transitions
// (gridworld.Env.Next, whose wind and walls the gridworld tests check by hand): a
// search in the opposite direction from the environment's backward one, which the
// expert follows.
func shortestPath(e *gridworld.Env, x, y, h int) int {
	type state struct{ x, y, h int }
	dist := map[state]int{{x, y, h}: 0}
	queue := []state{{x, y, h}}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for m := range gridworld.Move(gridworld.NumMoves) {
			nx, ny, nh := e.Next(s.x, s.y, s.h, m)
			next := state{nx, ny, nh}
			switch e.CellAt(nx, ny) {
			case gridworld.Lava:
				continue
			case gridworld.Goal:
				return dist[s] + 1
			}
			if _, ok := dist[next]; !ok {
				dist[next] = dist[s] + 1
				queue = append(queue, next)
			}
		}
	}
	return -1
}

// gridworldSets are the registered gridworld task sets.
var gridworldSets = []string{"gridworld/pretrain", "gridworld/heldout"}

// runExpert plays one noise-free episode from seed and returns its last transition,
// its length and return, and the start state.
func runExpert(t *testing.T, env envs.Env, p Policy, seed int64) (last envs.Transition, steps int, ret float64, start [3]int) {
	t.Helper()
	g, _ := envs.As[*gridworld.Env](env)
	obs, _, err := env.Reset(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	start[0], start[1], start[2] = g.Agent()
	act := make([]float64, 1)
	for !last.Done() {
		if err := p.Act(obs, act); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if last, err = env.Step(act); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		obs = last.Obs
		steps++
		ret += last.Reward
	}
	return last, steps, ret, start
}

// TestGridworldExpert checks that the expert is optimal: on every task, from 20
// start states, its episode is exactly as long as the shortest path found by an
// independent forward search, and its return is the reward of that length.
func TestGridworldExpert(t *testing.T) {
	eachTask(t, gridworldSets, func(task envs.Task, env envs.Env, p Policy) {
		g, _ := envs.As[*gridworld.Env](env)
		for seed := range int64(20) {
			tr, steps, ret, s := runExpert(t, env, p, seed)
			want := shortestPath(g, s[0], s[1], s[2])
			if !tr.Info.Success || steps != want {
				t.Errorf("%s seed %d: expert took %d steps (success %v), shortest path from %v is %d", task.ID, seed, steps, tr.Info.Success, s, want)
			}
			if wantRet := 1 - 0.9*float64(want)/float64(g.Horizon()); tr.Info.Success && math.Abs(ret-wantRet) > 1e-12 {
				t.Errorf("%s seed %d: return %v, want %v", task.ID, seed, ret, wantRet)
			}
		}
	})
}

// TestGridworldExpertSuccess measures the noise-free expert's success rate over 1000
// reset seeds (as many random start states) on every task; it must be ≥ 99 %.
func TestGridworldExpertSuccess(t *testing.T) {
	const seeds = 1000
	worst, worstID := 1.0, ""
	eachTask(t, gridworldSets, func(task envs.Task, env envs.Env, p Policy) {
		successes := 0
		for seed := range int64(seeds) {
			if tr, _, _, _ := runExpert(t, env, p, seed); tr.Info.Success {
				successes++
			}
		}
		rate := float64(successes) / seeds
		if rate < 0.99 {
			t.Errorf("%s: success rate %.3f over %d seeds at noise 0, want ≥ 0.99", task.ID, rate, seeds)
		}
		if rate < worst || worstID == "" {
			worst, worstID = rate, task.ID
		}
	})
	t.Logf("lowest success rate %.3f (%s) over %d seeds per task", worst, worstID, seeds)
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

// TestGridworldWindNeedsAdaptation checks that the held-out wind really changes the
// task: a policy that ignores it (the shortest-path plan of the same map without
// wind, replanned from wherever the agent is after every step) fails in a large
// share of the episodes of every windy held-out task, which the expert solves.
func TestGridworldWindNeedsAdaptation(t *testing.T) {
	set, err := envs.LookupTaskSet("gridworld/heldout")
	if err != nil {
		t.Fatal(err)
	}
	windy := 0
	for _, task := range set.Tasks {
		if _, ok := task.Options["wind"]; !ok {
			continue
		}
		windy++
		env, err := task.Make()
		if err != nil {
			t.Fatal(err)
		}
		g, _ := envs.As[*gridworld.Env](env)
		calm := task.Options.Clone()
		delete(calm, "wind")
		delete(calm, "wind_columns")
		delete(calm, "wind_rows")
		calmEnv, err := envs.Make(task.EnvID, calm)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := New(task.EnvID, calmEnv, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		cg, _ := envs.As[*gridworld.Env](calmEnv)
		const episodes = 50
		successes := 0
		act := make([]float64, 1)
		for seed := range int64(episodes) {
			obs, _, _ := env.Reset(seed)
			var tr envs.Transition
			for !tr.Done() {
				// Put the wind-free twin where the agent is and ask its expert.
				x, y, h := g.Agent()
				if err := cg.SetState([]float64{float64(x), float64(y), float64(h), 0}); err != nil {
					t.Fatal(err)
				}
				if err := plan.Act(obs, act); err != nil {
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
		if successes > episodes*6/10 {
			t.Errorf("%s: the wind-free plan succeeded in %d of %d episodes; the wind should defeat it more often", task.ID, successes, episodes)
		}
	}
	if windy == 0 {
		t.Fatal("no held-out task has wind")
	}
}
