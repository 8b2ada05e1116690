package agents

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// tinyModel is an untrained DT for env's spaces: evaluation is about bookkeeping, so
// the policy's quality does not matter, only that it is deterministic given a seed.
func tinyModel(t *testing.T, env envs.Env, context int) *policy.Model {
	t.Helper()
	var space policy.ActionSpace
	switch s := env.ActionSpace().(type) {
	case envs.Discrete:
		space.Discrete = s.N
	case envs.Box:
		space.Dim = s.Dim()
		for i := range s.Low {
			space.Low = append(space.Low, float32(s.Low[i]))
			space.High = append(space.High, float32(s.High[i]))
		}
	}
	cfg := policy.DefaultConfig(env.ObservationSpace().Dim(), space)
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Dropout = 16, 1, 2, context, 600, 0
	m, err := policy.New(cfg, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestActorWindows(t *testing.T) {
	env, err := envs.Make("CartPole-v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	const K = 3
	m := tinyModel(t, env, K)
	a, err := NewActor(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	obs := func(v float64) []float64 { return []float64{v, v, v, v} }
	if err := a.Begin(0, obs(1), 100); err != nil {
		t.Fatal(err)
	}
	if err := a.Begin(1, obs(10), 50); err != nil {
		t.Fatal(err)
	}
	acts := make([]float64, 2)
	// Environment 0 takes 4 steps (its window slides), environment 1 takes 1.
	for step := 0; step < 4; step++ {
		if err := a.Act(true, nil, acts); err != nil {
			t.Fatal(err)
		}
		a.Observe(0, 1, obs(float64(step+2)))
		if step == 0 {
			a.Observe(1, 5, obs(11))
		}
	}
	if err := a.Act(true, nil, acts); err != nil {
		t.Fatal(err)
	}
	bt := a.batch
	if bt.K != K {
		t.Fatalf("window length %d, want %d", bt.K, K)
	}
	// Env 0 is at timestep 4 with return-to-go 100 − 4; its window holds steps 2..4.
	wantR0 := []float32{98, 97, 96}
	wantT0 := []int{2, 3, 4}
	wantS0 := []float32{3, 4, 5}
	for s := 0; s < K; s++ {
		if !bt.Mask[s] || bt.Returns[s] != wantR0[s] || bt.Timesteps[s] != wantT0[s] || bt.States[s*4] != wantS0[s] {
			t.Errorf("env 0 step %d: mask %v rtg %v t %d state %v, want true %v %d %v",
				s, bt.Mask[s], bt.Returns[s], bt.Timesteps[s], bt.States[s*4], wantR0[s], wantT0[s], wantS0[s])
		}
	}
	// Env 1 has two steps: one padding slot, then (50, t0), (45, t1).
	if bt.Mask[K] || !bt.Mask[K+1] || !bt.Mask[K+2] {
		t.Errorf("env 1 mask %v, want [false true true]", bt.Mask[K:2*K])
	}
	if bt.Returns[K+1] != 50 || bt.Returns[K+2] != 45 || bt.Timesteps[K+2] != 1 {
		t.Errorf("env 1 returns %v timesteps %v, want [_ 50 45] [_ 0 1]", bt.Returns[K:2*K], bt.Timesteps[K:2*K])
	}
	if got := a.ReturnToGo(0); got != 96 {
		t.Errorf("return-to-go of env 0 = %v, want 96", got)
	}
}

func TestEvaluateIndependentOfNumEnvs(t *testing.T) {
	tasks := []envs.Task{{ID: "cartpole-default", EnvID: "CartPole-v1"}, {ID: "pendulum-default", EnvID: "Pendulum-v1", Options: envs.Options{"max_episode_steps": 50}}}
	for _, task := range tasks {
		env, err := task.Make()
		if err != nil {
			t.Fatal(err)
		}
		m := tinyModel(t, env, 4)
		run := func(numEnvs int) []EvalResult {
			cfg := EvalConfig{Episodes: 5, Targets: []float64{100}, NumEnvs: numEnvs, Seed: 7, Greedy: true, Record: true}
			res, err := Evaluate(context.Background(), m, []envs.Task{task}, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		one, three := run(1), run(3)
		for j := range one[0].Returns {
			if one[0].Returns[j] != three[0].Returns[j] || one[0].Lengths[j] != three[0].Lengths[j] {
				t.Errorf("%s episode %d: return %v len %d with 1 env, %v len %d with 3",
					task.ID, j, one[0].Returns[j], one[0].Lengths[j], three[0].Returns[j], three[0].Lengths[j])
			}
			ep := three[0].Episodes[j]
			if ep == nil || math.Abs(ep.Return()-three[0].Returns[j]) > 1e-3*math.Max(1, math.Abs(ep.Return())) || ep.Len() != three[0].Lengths[j] || ep.Seed != 7+int64(j) {
				t.Errorf("%s episode %d: recording does not match the result", task.ID, j)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	// Hand-computed: returns 1, 2, 3, 4 → mean 2.5, sample std √(5/3), t(0.975, 3) = 3.182446305.
	res := EvalResult{Returns: []float64{1, 2, 3, 4}, Lengths: []int{10, 20, 30, 40}, Successes: []bool{true, false, true, true}}
	summarize(&res)
	std := math.Sqrt(5.0 / 3)
	want := EvalResult{Mean: 2.5, Std: std, CI95: 3.182446305 * std / 2, SuccessRate: 0.75, MeanLength: 25}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"mean", res.Mean, want.Mean}, {"std", res.Std, want.Std}, {"ci95", res.CI95, want.CI95},
		{"success", res.SuccessRate, want.SuccessRate}, {"length", res.MeanLength, want.MeanLength},
	} {
		if math.Abs(c.got-c.want) > 1e-8 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestThresholdSuccess(t *testing.T) {
	// CartPole-v1 is registered with reward threshold 475 (Gymnasium's); Pendulum-v1
	// has none, so only reported successes count there.
	for _, c := range []struct {
		env     string
		returns []float64
		in      []bool
		want    []bool
	}{
		{"CartPole-v1", []float64{474.9, 475, 500}, []bool{false, false, false}, []bool{false, true, true}},
		{"CartPole-v1", []float64{10}, []bool{true}, []bool{true}},
		{"Pendulum-v1", []float64{-100, 0}, []bool{false, true}, []bool{false, true}},
		{"NoSuchEnv-v0", []float64{1e9}, []bool{false}, []bool{false}},
	} {
		res := EvalResult{EnvID: c.env, Returns: c.returns, Successes: append([]bool(nil), c.in...)}
		thresholdSuccess(&res)
		for j := range c.want {
			if res.Successes[j] != c.want[j] {
				t.Errorf("%s return %v (reported %v): success = %v, want %v", c.env, c.returns[j], c.in[j], res.Successes[j], c.want[j])
			}
		}
	}
}

func TestEvalConfigErrors(t *testing.T) {
	for _, c := range []EvalConfig{
		{Episodes: 0, NumEnvs: 1, Targets: []float64{1}},
		{Episodes: 1, NumEnvs: 0, Targets: []float64{1}},
		{Episodes: 1, NumEnvs: 1},
		{Episodes: 1, NumEnvs: 1, Targets: []float64{math.NaN()}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
