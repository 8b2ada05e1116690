package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/policy"
)

// batchFor fills b windows of random raw inputs; window w has w mod K padded steps.
func batchFor(cfg policy.Config, b int, rng *rand.Rand) *policy.Batch {
	bt := policy.NewBatch(cfg, b)
	K, S, A := cfg.Context, cfg.StateDim, cfg.Action.Width()
	for w := 0; w < b; w++ {
		start := rng.IntN(cfg.MaxEpisodeLen)
		for k := 0; k < K; k++ {
			i := w*K + k
			bt.Mask[i] = k >= w%K
			bt.Returns[i] = float32(rng.NormFloat64() * 10)
			bt.Timesteps[i] = start + k
			for d := 0; d < S; d++ {
				bt.States[i*S+d] = float32(rng.NormFloat64())
			}
			if cfg.Action.IsDiscrete() {
				bt.Actions[i] = float32(rng.IntN(cfg.Action.Discrete))
				continue
			}
			for d := 0; d < A; d++ {
				bt.Actions[i*A+d] = float32(2*rng.Float64() - 1)
			}
		}
	}
	return bt
}

func loss(t *testing.T, m *policy.Model, bt *policy.Batch) float64 {
	t.Helper()
	if err := m.Forward(bt); err != nil {
		t.Fatal(err)
	}
	return float64(m.Loss(bt, 0).Loss)
}

// policy.Model.SetTrain reaches the adapters (issue "evarl as a library"): adapter
// dropout is on exactly while the model trains, from the moment the adapters are
// attached, and acting (evaluation mode) leaves the mode as it was.
func TestPolicySetTrainReachesAdapters(t *testing.T) {
	m := smallPolicy(t, true, 0) // no dropout of its own: only the adapters' is random
	if !m.Training() {
		t.Fatal("a new policy is in training mode")
	}
	cfg := DefaultConfig()
	cfg.Dropout, cfg.TargetModules = 0.5, []string{PresetAttention}
	lm, err := Apply(m, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	perturbB(lm, rand.New(rand.NewPCG(2, 2)))
	bt := batchFor(m.Config(), 3, rand.New(rand.NewPCG(3, 3)))
	if a, b := loss(t, m, bt), loss(t, m, bt); a == b {
		t.Errorf("training mode right after Apply: two forwards give the same loss %v; adapter dropout is off", a)
	}
	acts := make([]float32, 3)
	if err := m.Act(bt, true, nil, acts); err != nil {
		t.Fatal(err)
	}
	if a, b := loss(t, m, bt), loss(t, m, bt); a == b {
		t.Error("after Act in training mode, adapter dropout is off")
	}
	m.SetTrain(false)
	if a, b := loss(t, m, bt), loss(t, m, bt); a != b {
		t.Errorf("evaluation mode: losses %v and %v differ; adapter dropout is on", a, b)
	}
	m.SetTrain(true)
	if a, b := loss(t, m, bt), loss(t, m, bt); a == b {
		t.Error("training mode again: adapter dropout stays off")
	}

	// Attached to a model in evaluation mode, the adapters start in it.
	m2 := smallPolicy(t, true, 0)
	m2.SetTrain(false)
	lm2, err := Apply(m2, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	perturbB(lm2, rand.New(rand.NewPCG(2, 2)))
	if a, b := loss(t, m2, bt), loss(t, m2, bt); a != b {
		t.Error("adapters attached in evaluation mode start with dropout on")
	}
}

// Adapters on the head and on every embedding (the Linear ones and the tables) of a
// real Decision Transformer, LoRA and DoRA: merged and unmerged losses agree (which
// also fails if half of the batch ran on the second lane without the adapters),
// every adapter parameter gets a gradient, and the gradient of an embedding
// adapter's parameters agrees with central differences of the loss.
func TestPolicyAdaptsEmbeddingsAndHead(t *testing.T) {
	for _, tc := range []struct {
		discrete, dora, onlyTable bool
	}{{true, false, false}, {true, true, false}, {false, false, false}, {false, true, false}, {true, false, true}, {false, true, true}} {
		discrete, dora := tc.discrete, tc.dora
		{
			m := smallPolicy(t, discrete, 0)
			cfg := DefaultConfig()
			cfg.R, cfg.TargetModules, cfg.UseDoRA = 2, []string{PresetAll}, dora
			if tc.onlyTable {
				cfg.TargetModules = []string{"embed_timestep"} // no Linear adapter
			}
			lm, err := Apply(m, cfg, Options{Rng: rand.New(rand.NewPCG(4, 4))})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(lm.Embeddings); !tc.onlyTable && n != 1+b2i(discrete) {
				t.Fatalf("discrete %v: %d embedding adapters", discrete, n)
			}
			rng := rand.New(rand.NewPCG(5, 5))
			perturbB(lm, rng)
			bt := batchFor(m.Config(), 4, rng)
			unmerged := loss(t, m, bt)
			lm.Params().ZeroGrad()
			m.Backward()
			if err := lm.Merge(true); err != nil {
				t.Fatal(err)
			}
			if merged := loss(t, m, bt); math.Abs(merged-unmerged) > 1e-5*(1+math.Abs(unmerged)) {
				t.Errorf("discrete %v dora %v: merged loss %v, unmerged %v", discrete, dora, merged, unmerged)
			}
			if err := lm.Unmerge(); err != nil {
				t.Fatal(err)
			}
			for _, p := range lm.Params().All() {
				nz := false
				for _, g := range p.Grad {
					nz = nz || g != 0
				}
				if !nz {
					t.Errorf("discrete %v dora %v: %s got no gradient", discrete, dora, p.Name)
				}
			}
			// Central differences of the loss for a few parameters of the tables'
			// adapters (float32 loss: eps 1e-3, tolerance 3 % + 1e-3). DoRA's A and B
			// are left out: its detached norm makes their gradient differ from the
			// loss's derivative by design.
			for _, e := range lm.Embeddings {
				ps := e.lr.params()
				if dora {
					ps = ps[2:]
				}
				for _, p := range ps {
					for _, i := range []int{0, p.Size() / 2, p.Size() - 1} {
						want := p.Grad[i]
						old := p.Data[i]
						const eps = 1e-3
						p.Data[i] = old + eps
						up := loss(t, m, bt)
						p.Data[i] = old - eps
						down := loss(t, m, bt)
						p.Data[i] = old
						fd := (up - down) / (2 * eps)
						if math.Abs(fd-float64(want)) > 3e-2*math.Abs(fd)+1e-3 {
							t.Errorf("discrete %v dora %v: d loss / d %s[%d] = %v, central difference %v", discrete, dora, p.Name, i, want, fd)
						}
					}
				}
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// DropoutState carries the adapters' dropout streams across a resume.
func TestDropoutStateRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dropout, cfg.TargetModules = 0.3, []string{PresetAttention}
	m := smallPolicy(t, true, 0)
	lm, err := Apply(m, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	perturbB(lm, rand.New(rand.NewPCG(2, 2)))
	bt := batchFor(m.Config(), 2, rand.New(rand.NewPCG(3, 3)))
	loss(t, m, bt)
	state, err := lm.DropoutState()
	if err != nil {
		t.Fatal(err)
	}
	want := loss(t, m, bt)

	// A "resumed" copy: same weights and adapters, another dropout seed, then the state.
	m2 := smallPolicy(t, true, 0)
	lm2, err := Apply(m2, cfg, Options{Rng: rand.New(rand.NewPCG(9, 9))})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range lm.Params().All() {
		copy(lm2.Params().All()[i].Data, p.Data)
	}
	if err := lm2.SetDropoutState(state); err != nil {
		t.Fatal(err)
	}
	if got := loss(t, m2, bt); got != want {
		t.Errorf("after SetDropoutState the loss is %v, the uninterrupted run's %v", got, want)
	}
	if err := lm2.SetDropoutState([]byte(`[]`)); err == nil {
		t.Error("a state for no adapters: no error")
	}
}

// MergeAndUnload leaves a plain policy computing what the adapted one did, with no
// hook left (so batches run on both lanes again).
func TestMergeAndUnload(t *testing.T) {
	m := smallPolicy(t, true, 0)
	cfg := DefaultConfig()
	cfg.R, cfg.TargetModules, cfg.UseDoRA, cfg.ModulesToSave = 2, []string{PresetAttentionMLP, "embed_timestep"}, true, []string{"head"}
	lm, err := Apply(m, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	perturbB(lm, rng)
	head, _ := m.Linear("head")
	for i := range head.W.Data {
		head.W.Data[i] += 0.1
	}
	bt := batchFor(m.Config(), 4, rng)
	want := loss(t, m, bt)
	if err := lm.MergeAndUnload(true); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Linears() {
		if l.Adapter != nil {
			t.Fatalf("%s still has an adapter", l.Name)
		}
	}
	for _, e := range m.Embeddings() {
		if e.Adapter != nil {
			t.Fatalf("%s still has an adapter", e.Name)
		}
	}
	if got := loss(t, m, bt); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
		t.Errorf("merged and unloaded loss %v, adapted %v", got, want)
	}
}
