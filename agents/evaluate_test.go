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

func TestReachedThreshold(t *testing.T) {
	// CartPole-v1 is registered with reward threshold 475 (Gymnasium's); Pendulum-v1
	// has none, so only reported successes count there.
	for _, c := range []struct {
		env  string
		ret  float64
		want bool
	}{
		{"CartPole-v1", 474.9, false}, {"CartPole-v1", 475, true}, {"CartPole-v1", 500, true},
		{"Pendulum-v1", 0, false}, {"NoSuchEnv-v0", 1e9, false},
	} {
		if got := reachedThreshold(c.env, c.ret); got != c.want {
			t.Errorf("%s return %v: %v, want %v", c.env, c.ret, got, c.want)
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
