package eva

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/classic" // CartPole-v1
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

func cartPolePolicy(t testing.TB) *policy.Model {
	t.Helper()
	cfg := policy.DefaultConfig(4, policy.ActionSpace{Discrete: 2})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.ReturnScale = 16, 1, 2, 4, 600, 100
	m, err := policy.New(cfg, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRolloutsAndWindowSource(t *testing.T) {
	m := cartPolePolicy(t)
	vec, err := envs.MakeVector("CartPole-v1", nil, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer vec.Close()
	rng := rand.New(rand.NewPCG(3, 3))
	eps, err := Rollouts(context.Background(), m, vec, "CartPole-v1", 200, 5, 7, false, rng)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 5 {
		t.Fatalf("%d episodes, want 5", len(eps))
	}
	for i, ep := range eps {
		if err := ep.Validate(); err != nil {
			t.Fatalf("episode %d: %v", i, err)
		}
		if !ep.Terminated && !ep.Truncated {
			t.Errorf("episode %d neither terminated nor truncated", i)
		}
		// CartPole pays 1 per step.
		if got := ep.Return(); got != float64(ep.Len()) {
			t.Errorf("episode %d: return %v over %d steps", i, got, ep.Len())
		}
		for _, a := range ep.Actions {
			if a != 0 && a != 1 {
				t.Fatalf("episode %d: action %v not in {0, 1}", i, a)
			}
		}
	}

	fwd, err := WindowSource(m, eps, 8, rng)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MaxBatches = 400
	lc := lora.DefaultConfig()
	lc.R = 2
	s, err := Compute(context.Background(), m, lc, cfg, fwd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Layers) != 6 {
		t.Fatalf("%d layers, want 6", len(s.Layers))
	}
	t.Logf("CartPole rollouts: %d episodes, EVA converged in %d minibatches", len(eps), s.Batches)

	if _, err := WindowSource(m, nil, 8, rng); err == nil {
		t.Error("no episodes: no error")
	}
	if _, err := WindowSource(m, eps, 0, rng); err == nil {
		t.Error("batch 0: no error")
	}
}
