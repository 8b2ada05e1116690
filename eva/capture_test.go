package eva

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// smallPolicy is a 2-block Decision Transformer (embed 16, 2 heads, K = 5) with a
// deterministic continuous head, so actions compare exactly.
func smallPolicy(t testing.TB, seed uint64) *policy.Model {
	t.Helper()
	act := policy.ActionSpace{Dim: 2, Low: []float32{-1, -1}, High: []float32{1, 1}}
	cfg := policy.DefaultConfig(4, act)
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Dropout = 16, 2, 2, 5, 50, 0
	m, err := policy.New(cfg, rand.New(rand.NewPCG(seed, 1)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrain(false)
	return m
}

// windows fills b left-padded windows: window w has w%K padded steps in front.
func windows(cfg policy.Config, b int, rng *rand.Rand) *policy.Batch {
	bt := policy.NewBatch(cfg, b)
	K, S := cfg.Context, cfg.StateDim
	for w := 0; w < b; w++ {
		for k := 0; k < K; k++ {
			i := w*K + k
			bt.Mask[i] = k >= w%K
			bt.Returns[i] = float32(10 * rng.Float64())
			bt.Timesteps[i] = k + rng.IntN(10)
			for d := 0; d < S; d++ {
				bt.States[i*S+d] = float32(rng.NormFloat64())
			}
			for d := 0; d < 2; d++ {
				bt.Actions[i*2+d] = float32(2*rng.Float64() - 1)
			}
		}
	}
	return bt
}

// batchSource feeds random windows to the model, at most limit minibatches (0: no
// limit), and counts the real steps it produced.
type batchSource struct {
	m         *policy.Model
	rng       *rand.Rand
	b, limit  int
	calls     int
	realSteps int
	last      *policy.Batch
}

func (s *batchSource) forward(ctx context.Context) error {
	if s.limit > 0 && s.calls == s.limit {
		return io.EOF
	}
	s.calls++
	s.last = windows(s.m.Config(), s.b, s.rng)
	for _, ok := range s.last.Mask {
		if ok {
			s.realSteps++
		}
	}
	return s.m.Forward(s.last)
}

func smallLoraConfig() lora.Config {
	c := lora.DefaultConfig()
	c.R, c.Alpha = 2, 4
	return c
}

func TestComputeDropsPaddingAndSharesInputs(t *testing.T) {
	m := smallPolicy(t, 1)
	src := &batchSource{m: m, rng: rand.New(rand.NewPCG(2, 2)), b: 8, limit: 1}
	cfg := DefaultConfig()
	cfg.AcceptUnconverged = true
	s, err := Compute(context.Background(), m, smallLoraConfig(), cfg, src.forward, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Layers) != 12 {
		t.Fatalf("%d layers, want 12 (q, k, v, o, fc, proj × 2 blocks)", len(s.Layers))
	}
	// 8 windows of 5 steps with 0,1,2,3,4,0,1,2 padded steps: 27 real steps, 81 tokens.
	if src.realSteps != 27 {
		t.Fatalf("source produced %d real steps, want 27", src.realSteps)
	}
	for _, l := range s.Layers {
		if l.Rows != 3*src.realSteps {
			t.Errorf("%s saw %d rows, want 3 tokens × %d real steps", l.Name, l.Rows, src.realSteps)
		}
		wantOwner := ""
		if strings.HasSuffix(l.Name, "attn.k") || strings.HasSuffix(l.Name, "attn.v") {
			wantOwner = strings.TrimSuffix(strings.TrimSuffix(l.Name, "k"), "v") + "q"
		}
		if l.Owner != wantOwner {
			t.Errorf("%s owner %q, want %q", l.Name, l.Owner, wantOwner)
		}
	}
	if s.Fingerprint != lora.Fingerprint(m.Params()) {
		t.Error("state not stamped with the base model's fingerprint")
	}
	for _, l := range m.Linears() {
		if l.Observer != nil || l.Adapter != nil {
			t.Errorf("%s: hooks left behind", l.Name)
		}
	}
}

func TestApplyKeepsPolicyActions(t *testing.T) {
	m := smallPolicy(t, 3)
	rng := rand.New(rand.NewPCG(4, 4))
	src := &batchSource{m: m, rng: rng, b: 16}
	cfg := DefaultConfig()
	cfg.MaxBatches = 300
	lcfg := smallLoraConfig()
	s, err := Compute(context.Background(), m, lcfg, cfg, src.forward, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("converged after %d minibatches", s.Batches)

	probe := windows(m.Config(), 6, rand.New(rand.NewPCG(5, 5)))
	before := make([]float32, 6*2)
	if err := m.Act(probe, true, nil, before); err != nil {
		t.Fatal(err)
	}

	// Save → load, and force a rank-0 layer (its rank moves to another layer).
	path := filepath.Join(t.TempDir(), "eva.safetensors")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	s2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var zero, bump *LayerState
	for i := range s2.Layers {
		if l := &s2.Layers[i]; zero == nil && l.Rank > 0 {
			zero = l
		}
	}
	for i := range s2.Layers {
		if l := &s2.Layers[i]; l != zero && l.Rank+zero.Rank <= l.NComponents {
			bump = l
			break
		}
	}
	if bump == nil {
		t.Fatalf("no layer can take %s's rank %d", zero.Name, zero.Rank)
	}
	bump.Rank += zero.Rank
	zero.Rank = 0
	lm, err := Apply(m, lcfg, s2, lora.Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	after := make([]float32, 6*2)
	if err := m.Act(probe, true, nil, after); err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("action %d changed from %v to %v by EVA initialisation", i, before[i], after[i])
		}
	}
	if _, ok := lm.Adapter(zero.Name); ok {
		t.Errorf("%s has rank 0 but got an adapter", zero.Name)
	}
	total := 0
	for _, a := range lm.Adapters {
		ls, _ := s2.Layer(a.Layer.Name)
		total += a.R
		if a.R != ls.Rank {
			t.Errorf("%s: adapter rank %d, state rank %d", a.Layer.Name, a.R, ls.Rank)
		}
		// adjust_scaling_factors keeps alpha/r at the nominal 4/2.
		if math.Abs(float64(a.Scale)-2) > 1e-6 {
			t.Errorf("%s: scale %v, want alpha/r = 2", a.Layer.Name, a.Scale)
		}
		want := ls.LoraA(false)
		for i, v := range a.A.Data {
			if v != want[i] {
				t.Fatalf("%s: lora_A[%d] = %v, want the component %v", a.Layer.Name, i, v, want[i])
			}
		}
		for _, v := range a.B.Data {
			if v != 0 {
				t.Fatalf("%s: lora_B not zero", a.Layer.Name)
			}
		}
	}
	if total != 12*2 {
		t.Errorf("adapter ranks sum to %d, want the budget 24", total)
	}

	// The adapter saves and reloads onto the same base.
	dir := t.TempDir()
	if err := lm.Save(dir, "small"); err != nil {
		t.Fatal(err)
	}
	lm.Detach()
	if _, err := lora.Load(dir, m, lora.Options{}); err != nil {
		t.Fatalf("reload the EVA adapter: %v", err)
	}
}

func TestApplyRejectsOtherModel(t *testing.T) {
	m := smallPolicy(t, 6)
	src := &batchSource{m: m, rng: rand.New(rand.NewPCG(7, 7)), b: 8, limit: 2}
	cfg := DefaultConfig()
	cfg.AcceptUnconverged = true
	s, err := Compute(context.Background(), m, smallLoraConfig(), cfg, src.forward, Options{})
	if err != nil {
		t.Fatal(err)
	}
	other := smallPolicy(t, 8)
	if _, err := Apply(other, smallLoraConfig(), s, lora.Options{}); err == nil || !strings.Contains(err.Error(), "another base model") {
		t.Fatalf("error %v, want a base-model mismatch", err)
	}
	lc := smallLoraConfig()
	lc.TargetModules = []string{"attn.q"}
	if _, err := Apply(m, lc, s, lora.Options{}); err == nil || !strings.Contains(err.Error(), "covers 12 layers") {
		t.Fatalf("error %v, want a target mismatch", err)
	}
	empty := func(context.Context) error { return io.EOF }
	if _, err := Compute(context.Background(), m, smallLoraConfig(), DefaultConfig(), empty, Options{}); err == nil || !strings.Contains(err.Error(), "no minibatches") {
		t.Fatalf("empty source: error %v", err)
	}
}
