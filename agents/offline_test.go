package agents

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// syntheticEpisodes builds episodes whose action is a fixed function of the state, so
// that a DT can learn it: action = 1 when the first feature is positive, else 0.
func syntheticEpisodes(rng *rand.Rand, n, length, obsDim int) []*replay.Episode {
	var eps []*replay.Episode
	for i := 0; i < n; i++ {
		ep := &replay.Episode{EnvID: "synthetic", ObsDim: obsDim, ActDim: 1}
		for t := 0; t <= length; t++ {
			for d := 0; d < obsDim; d++ {
				ep.Observations = append(ep.Observations, float32(rng.NormFloat64()))
			}
			if t == length {
				break
			}
			a := float32(0)
			if ep.Observations[t*obsDim] > 0 {
				a = 1
			}
			ep.Actions = append(ep.Actions, a)
			ep.Rewards = append(ep.Rewards, a)
		}
		ep.Terminated = true
		eps = append(eps, ep)
	}
	return eps
}

func newTinyTrainer(t *testing.T, seed uint64, eps []*replay.Episode, steps int) (*Offline, *rand.PCG) {
	t.Helper()
	rng, src := NewRand(seed)
	cfg := policy.DefaultConfig(3, policy.ActionSpace{Discrete: 2})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Dropout = 16, 1, 2, 4, 32, 0.1
	m, err := policy.New(cfg, rng, nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := replay.NewSampler(eps)
	if err != nil {
		t.Fatal(err)
	}
	tc := DefaultTrainConfig(steps)
	tc.BatchSize = 8
	tc.Schedule.LR = 3e-3
	tr, err := NewOffline(m, nil, sampler, tc, rng)
	if err != nil {
		t.Fatal(err)
	}
	return tr, src
}

func TestOfflineLearns(t *testing.T) {
	eps := syntheticEpisodes(rand.New(rand.NewPCG(3, 4)), 20, 16, 3)
	tr, _ := newTinyTrainer(t, 1, eps, 300)
	var first, last float64
	for i := 0; i < 300; i++ {
		st, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if i < 20 {
			first += st.Loss / 20
		}
		if i >= 280 {
			last += st.Loss / 20
		}
	}
	t.Logf("cross-entropy %.3f → %.3f", first, last)
	// Chance level is ln 2 ≈ 0.693; the rule is learnable, so the loss must fall well below.
	if !(last < 0.35 && last < first/2) {
		t.Errorf("loss went from %.3f to %.3f, want below 0.35 and half the start", first, last)
	}
}

// TestOfflineResumeExact: 2n updates in one run equal n updates, a save, a load into
// fresh objects and n more — bit for bit, dropout and sampling included.
func TestOfflineResumeExact(t *testing.T) {
	const n = 6
	eps := syntheticEpisodes(rand.New(rand.NewPCG(5, 6)), 10, 12, 3)

	straight, _ := newTinyTrainer(t, 9, eps, 2*n)
	for i := 0; i < 2*n; i++ {
		if _, err := straight.Step(); err != nil {
			t.Fatal(err)
		}
	}

	first, src := newTinyTrainer(t, 9, eps, 2*n)
	for i := 0; i < n; i++ {
		if _, err := first.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := first.Model().Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := SaveTrainState(dir, TrainState{Loop: LoopState{Step: first.StepCount(), BestStep: -1}}, src, first.Optimizer().State()); err != nil {
		t.Fatal(err)
	}

	// A fresh process: new random source (any seed), the model from the checkpoint.
	rng, src2 := NewRand(12345)
	m, err := policy.LoadRand(dir, nn.GonumGemm{}, rng)
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := replay.NewSampler(eps)
	if err != nil {
		t.Fatal(err)
	}
	tc := DefaultTrainConfig(2 * n)
	tc.BatchSize = 8
	tc.Schedule.LR = 3e-3
	resumed, err := NewOffline(m, nil, sampler, tc, rng)
	if err != nil {
		t.Fatal(err)
	}
	st, opt, err := LoadTrainState(dir, src2)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Restore(st.Step(), opt); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := resumed.Step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range straight.Model().Params().All() {
		q, ok := resumed.Model().Params().Get(p.Name)
		if !ok || !slices.Equal(p.Data, q.Data) {
			t.Fatalf("parameter %s differs between the straight and the resumed run", p.Name)
		}
	}
	if _, _, err := LoadTrainState(filepath.Join(dir, "missing"), src2); err == nil {
		t.Error("loading a missing train state gave no error")
	}
}
