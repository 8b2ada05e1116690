package policy

import (
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

func TestActorWindows(t *testing.T) {
	const K = 3
	cfg := DefaultConfig(4, ActionSpace{Discrete: 2})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Dropout = 16, 1, 2, K, 64, 0
	m, err := New(cfg, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewActor(m, 2, true, nil)
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
		if err := a.Act(acts); err != nil {
			t.Fatal(err)
		}
		a.Observe(0, 1, obs(float64(step+2)))
		if step == 0 {
			a.Observe(1, 5, obs(11))
		}
	}
	if err := a.Act(acts); err != nil {
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
