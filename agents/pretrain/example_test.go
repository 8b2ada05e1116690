package pretrain_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/agents/pretrain"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/replay"
)

// corridor is a user's own environment: an agent on cells 0 … n−1 starts at a cell
// drawn from the reset seed and moves left (action 0) or right (action 1); reaching
// the last cell ends the episode with reward 1. The observation is the position,
// one-hot. Implementing envs.Env is all it takes to use it with evarl.
type corridor struct {
	n, pos, steps int
	obs           []float64
	rng           *rand.Rand
	started       bool
}

func (c *corridor) ObservationSpace() envs.Space { return envs.NewBox(make([]float64, c.n), ones(c.n)) }
func (c *corridor) ActionSpace() envs.Space      { return envs.Discrete{N: 2} }

func (c *corridor) Reset(seed int64) ([]float64, envs.Info, error) {
	if seed != envs.NoSeed || c.rng == nil {
		c.rng = rand.New(rand.NewPCG(uint64(max(seed, 0)), 1))
	}
	c.pos, c.steps, c.started = c.rng.IntN(c.n-1), 0, true
	return c.observe(), envs.Info{}, nil
}

func (c *corridor) Step(action []float64) (envs.Transition, error) {
	if !c.started {
		return envs.Transition{}, envs.ErrEpisodeOver
	}
	a, err := (envs.Discrete{N: 2}).Index(action)
	if err != nil {
		return envs.Transition{}, err
	}
	c.pos = min(max(c.pos+2*a-1, 0), c.n-1)
	c.steps++
	tr := envs.Transition{Obs: c.observe(), Info: envs.Info{Elapsed: c.steps}}
	if c.pos == c.n-1 {
		tr.Reward, tr.Terminated, tr.Info.Success, c.started = 1, true, true, false
	}
	return tr, nil
}

func (c *corridor) observe() []float64 {
	clear(c.obs)
	c.obs[c.pos] = 1
	return c.obs
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// rightward is a hand-written policy as an agents.Actor: it goes right, but with
// probability 0.4 takes a random action. agents.Rollout runs it like any actor.
type rightward struct {
	n   int
	rng *rand.Rand
}

func (r *rightward) Len() int                            { return r.n }
func (r *rightward) Begin(int, []float64, float64) error { return nil }
func (r *rightward) Observe(int, float64, []float64)     {}
func (r *rightward) End(int)                             {}
func (r *rightward) Act(actions []float64) error {
	for i := range actions {
		actions[i] = 1
		if r.rng.Float64() < 0.4 {
			actions[i] = float64(r.rng.IntN(2))
		}
	}
	return nil
}

// Example pretrains a Decision Transformer on a user's own environment: register
// it, record episodes of a hand-written policy with the shared episode loop, train
// on them, and evaluate the policy conditioned on the highest return.
func Example() {
	envs.Register(envs.Spec{ID: "Corridor-v0", Family: "corridor", MaxEpisodeSteps: 30,
		New: func(envs.Options) (envs.Env, error) { return &corridor{n: 8, obs: make([]float64, 8)}, nil }})
	tasks := []envs.Task{{ID: "corridor/8", EnvID: "Corridor-v0"}}
	ctx := context.Background()

	// Data: 40 episodes of the noisy rightward policy, seeds 0 … 39.
	var data []*replay.Episode
	q := []agents.Quota{{Task: tasks[0], Episodes: 40, Seed: 0}}
	err := agents.Rollout(ctx, &rightward{n: 4, rng: rand.New(rand.NewPCG(3, 3))}, q, agents.RolloutConfig{Record: true},
		func(ep agents.Episode) error { data = append(data, ep.Recording); return nil })
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := pretrain.DefaultConfig()
	cfg.Model.EmbedDim, cfg.Model.Layers, cfg.Model.Heads, cfg.Model.Context, cfg.Model.MaxEpisodeLen = 16, 1, 2, 4, 32
	cfg.Train = agents.DefaultTrainConfig(300)
	cfg.Train.BatchSize, cfg.Train.Schedule.LR = 16, 3e-3
	cfg.Eval.Every, cfg.Eval.Episodes, cfg.Eval.TestEpisodes, cfg.Eval.NumEnvs = 100, 5, 20, 10
	tr, err := pretrain.New(tasks, nil, data, cfg, pretrain.Options{Gemm: nn.GonumGemm{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := tr.Learn(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := finetune.FirstTarget(res.Groups["pretrain"], 1)[0]
	fmt.Printf("%d episodes of data; %d updates; the policy reaches the goal in %.0f %% of %d test episodes\n",
		len(data), res.Steps, 100*r.SuccessRate, r.Count)
	// Output:
	// 40 episodes of data; 300 updates; the policy reaches the goal in 100 % of 20 test episodes
}
