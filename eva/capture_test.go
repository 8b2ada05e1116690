package eva

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// fakeLossRows reports fixed at and path rows for every layer.
type fakeLossRows struct {
	at, path []bool
	ok       bool
}

func (f fakeLossRows) LossRows(layer string, n int, at, path []bool) bool {
	copy(at, f.at)
	copy(path, f.path)
	return f.ok && n == len(f.at)
}

// The observer keeps the real rows the label mask selects, on a hand-built batch.
func TestObserverLabelMask(t *testing.T) {
	x := []float32{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5} // row r holds (r, r)
	mask := []bool{true, true, false, true, true, true}
	lr := fakeLossRows{
		at:   []bool{false, true, false, false, true, false},
		path: []bool{true, true, true, false, true, true}, // row 2 is padding: the mask wins
		ok:   true,
	}
	for _, tc := range []struct {
		name string
		obs  observer
		want []float32
	}{
		{"none", observer{}, []float32{0, 1, 3, 4, 5}},
		{"loss_tokens", observer{lr: lr}, []float32{1, 4}},
		{"loss_paths", observer{lr: lr, paths: true}, []float32{0, 1, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs
			if o.lr == nil { // rows 0 and 1 into slot 0, then a pass into slot 1
				o.start(true, 0)
				o.Observe(x[:4], 2, 2, nil)
			}
			o.start(true, 1)
			o.Observe(x, 6, 2, mask)
			if o.err != nil {
				t.Fatal(o.err)
			}
			var got []float32
			data := o.data[1]
			for r := 0; r < o.n[1]; r++ {
				if data[2*r] != data[2*r+1] {
					t.Fatalf("row %d copied as %v", r, data[2*r:2*r+2])
				}
				got = append(got, data[2*r])
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("kept rows %v, want %v", got, tc.want)
			}
			if tc.name == "none" && (o.n[0] != 2 || !slices.Equal(o.data[0], x[:4])) {
				t.Fatalf("slot 0 holds %d rows %v after a pass into slot 1; want its own 2 rows %v", o.n[0], o.data[0], x[:4])
			}
		})
	}
	o := observer{on: true, name: "blocks.0.attn.q", lr: fakeLossRows{at: lr.at, path: lr.path}}
	o.Observe(x, 6, 2, mask)
	if o.err == nil || !strings.Contains(o.err.Error(), "blocks.0.attn.q") {
		t.Fatalf("a LossRower that refuses: error %v, want one naming the layer", o.err)
	}
}

// plainBase hides policy.Model's LossRows.
type plainBase struct{ lora.Base }

// On a real policy, the label masks keep the rows the Decision Transformer's loss
// depends on, counted by hand from the batch's padding: 8 windows of 5 steps with
// 0,1,2,3,4,0,1,2 padded steps hold 27 real steps (81 tokens), each window's last
// step is real, and its first real token is a return.
func TestComputeLabelMask(t *testing.T) {
	const steps, windows, tokens = 27, 8, 81
	for _, tc := range []struct {
		mask   string
		rows   map[string]int // by layer suffix: "0.attn.q" → rows
		owners map[string]string
	}{
		{LabelMaskLossTokens,
			map[string]int{"0.attn.q": steps, "0.attn.k": steps, "0.attn.o": steps, "0.mlp.fc": steps, "0.mlp.proj": steps,
				"1.attn.q": steps, "1.attn.v": steps, "1.attn.o": steps, "1.mlp.fc": steps, "1.mlp.proj": steps},
			map[string]string{"0.attn.k": "blocks.0.attn.q", "0.attn.v": "blocks.0.attn.q", "1.attn.k": "blocks.1.attn.q", "1.attn.v": "blocks.1.attn.q"}},
		{LabelMaskLossPaths,
			// every real token but the actions after the last state (one per window);
			// block 0's q also loses each window's first token; in the last block
			// q, o, fc and proj keep the state tokens only.
			map[string]int{"0.attn.q": tokens - 2*windows, "0.attn.k": tokens - windows, "0.attn.v": tokens - windows,
				"0.attn.o": tokens - windows, "0.mlp.fc": tokens - windows, "0.mlp.proj": tokens - windows,
				"1.attn.q": steps, "1.attn.k": tokens - windows, "1.attn.v": tokens - windows,
				"1.attn.o": steps, "1.mlp.fc": steps, "1.mlp.proj": steps},
			map[string]string{"0.attn.v": "blocks.0.attn.k", "1.attn.v": "blocks.1.attn.k"}},
	} {
		t.Run(tc.mask, func(t *testing.T) {
			m := smallPolicy(t, 1)
			src := &batchSource{m: m, rng: rand.New(rand.NewPCG(2, 2)), b: 8, limit: 1}
			cfg := DefaultConfig()
			cfg.AcceptUnconverged, cfg.LabelMask = true, tc.mask
			lc := smallLoraConfig()
			lc.R = 1 // 2 components: the 27-row layers must not be skipped
			s, err := Compute(context.Background(), m, lc, cfg, src.forward, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if src.realSteps != steps {
				t.Fatalf("source produced %d real steps, want %d", src.realSteps, steps)
			}
			for _, l := range s.Layers {
				key := strings.TrimPrefix(l.Name, "blocks.")
				if want, ok := tc.rows[key]; ok && l.Rows != want {
					t.Errorf("%s saw %d rows, want %d", l.Name, l.Rows, want)
				}
				if l.Owner != tc.owners[key] {
					t.Errorf("%s owner %q, want %q", l.Name, l.Owner, tc.owners[key])
				}
			}
			if _, err := Compute(context.Background(), plainBase{m}, lc, cfg, src.forward, Options{}); err == nil || !strings.Contains(err.Error(), "label_mask") {
				t.Fatalf("a model without LossRows: error %v, want one naming label_mask", err)
			}
		})
	}
}

// With embedding tables among the targets (preset "all": every Linear, the head and
// the tables), the pass counts the ids each table looks up for real tokens, the
// state keeps the counts through save and load, the adapted policy acts as the base
// did, and adapters already attached are switched off during a second pass.
func TestComputeCountsEmbeddingIDs(t *testing.T) {
	m := smallPolicy(t, 6)
	src := &batchSource{m: m, rng: rand.New(rand.NewPCG(7, 7)), b: 8}
	cfg := DefaultConfig()
	cfg.MaxBatches, cfg.AcceptUnconverged = 40, true
	lcfg := smallLoraConfig()
	lcfg.TargetModules = []string{"all"}
	s, err := Compute(context.Background(), m, lcfg, cfg, src.forward, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 1 || s.Tables[0].Name != "embed_timestep" {
		t.Fatalf("tables %+v, want the timestep table (continuous actions have no action table)", s.Tables)
	}
	total := 0.0
	for _, c := range s.Tables[0].Counts {
		total += c
	}
	// One timestep lookup per real step of every minibatch the pass consumed.
	if per := float64(src.realSteps) / float64(src.calls); total != per*float64(s.Batches) && total != float64(src.realSteps) {
		t.Errorf("counted %v ids over %d minibatches; the source gave %d real steps in %d calls", total, s.Batches, src.realSteps, src.calls)
	}
	path := filepath.Join(t.TempDir(), "eva.safetensors")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Tables[0].Counts, s.Tables[0].Counts) {
		t.Error("counts changed through save and load")
	}
	probe := windows(m.Config(), 6, rand.New(rand.NewPCG(8, 8)))
	before := make([]float32, 12)
	if err := m.Act(probe, true, nil, before); err != nil {
		t.Fatal(err)
	}
	lm, err := Apply(m, lcfg, back, lora.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := make([]float32, 12)
	if err := m.Act(probe, true, nil, after); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("EVA init with tables changed the actions: %v → %v", before, after)
	}
	if _, ok := lm.Embedding("embed_timestep"); !ok {
		t.Error("no adapter on embed_timestep")
	}
	// Perturb every adapter: a second pass must still see the base model's inputs.
	for _, a := range lm.Adapters {
		for i := range a.B.Data {
			a.B.Data[i] = 0.5
		}
	}
	src2 := &batchSource{m: m, rng: rand.New(rand.NewPCG(7, 7)), b: 8}
	s2, err := Compute(context.Background(), m, lcfg, cfg, src2.forward, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Layers {
		if !slices.Equal(s.Layers[i].Components, s2.Layers[i].Components) {
			t.Fatalf("layer %s: a pass with perturbed adapters attached saw other activations", s.Layers[i].Name)
		}
	}
	if !lm.Adapters[0].Enabled() {
		t.Error("the pass left the adapters switched off")
	}
}

// Compute overlaps each minibatch's forward pass with the previous one's PCA;
// the state must be the one of the sequential pass (Options.Sequential) bit for
// bit, id counts included, however the pass ends, and the source is read
// at most once more than the pass uses.
func TestComputeAheadMatchesSequential(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the overlap needs two Ps
	for _, tc := range []struct {
		name       string
		pca        string
		mask       string
		maxBatches int
		limit      int  // minibatches the source has (0: no end)
		failAfter  bool // the source fails on the read after the pass's last minibatch
		endAfter   bool // the source ends there (and the pass must not notice: it has converged)
		oneMore    bool // the look-ahead read a minibatch the pass did not use
	}{
		{name: "converges", pca: PCAExact, mask: LabelMaskNone, maxBatches: 200, oneMore: true},
		{name: "converges incremental", pca: PCAIncremental, mask: LabelMaskNone, maxBatches: 200, oneMore: true},
		{name: "converges loss_paths", pca: PCAExact, mask: LabelMaskLossPaths, maxBatches: 200, oneMore: true},
		{name: "max_batches", pca: PCAExact, mask: LabelMaskNone, maxBatches: 3},
		{name: "source ends", pca: PCAExact, mask: LabelMaskNone, maxBatches: 200, limit: 4},
		{name: "source fails after the last minibatch used", pca: PCAExact, mask: LabelMaskNone, maxBatches: 200, failAfter: true},
		{name: "source ends with the last minibatch used", pca: PCAExact, mask: LabelMaskNone, maxBatches: 200, endAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.PCA, cfg.LabelMask, cfg.MaxBatches, cfg.AcceptUnconverged = tc.pca, tc.mask, tc.maxBatches, !tc.endAfter
			lcfg := smallLoraConfig()
			lcfg.TargetModules = []string{"all"}
			run := func(sequential bool, fail, limit int) (*State, *batchSource) {
				m := smallPolicy(t, 11)
				src := &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8, limit: limit}
				fwd := src.forward
				if fail > 0 {
					fwd = func(ctx context.Context) error {
						if src.calls == fail {
							return errors.New("the source broke")
						}
						return src.forward(ctx)
					}
				}
				s, err := Compute(context.Background(), m, lcfg, cfg, fwd, Options{Sequential: sequential})
				if err != nil {
					t.Fatalf("sequential %v: %v", sequential, err)
				}
				return s, src
			}
			want, seq := run(true, 0, tc.limit)
			if seq.calls != want.Batches {
				t.Fatalf("the sequential pass read %d minibatches and used %d", seq.calls, want.Batches)
			}
			fail, limit := 0, tc.limit
			if tc.failAfter {
				fail = want.Batches
			}
			if tc.endAfter {
				limit = want.Batches // the sequential pass converged: it accepts nothing else
			}
			got, ahead := run(false, fail, limit)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the overlapped pass's state differs from the sequential one's (%d vs %d minibatches)", got.Batches, want.Batches)
			}
			wantCalls := want.Batches
			if tc.oneMore {
				wantCalls++
			}
			if ahead.calls != wantCalls {
				t.Errorf("the overlapped pass read %d minibatches to use %d; want %d", ahead.calls, want.Batches, wantCalls)
			}
		})
	}
}

// With one P (an experiment's runs are confined to one core) there is no
// overlap: the source is read exactly as often as the pass uses it.
func TestComputeOneProcIsSequential(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	m := smallPolicy(t, 11)
	src := &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8}
	s, err := Compute(context.Background(), m, smallLoraConfig(), DefaultConfig(), src.forward, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.calls != s.Batches {
		t.Fatalf("GOMAXPROCS 1: the pass read %d minibatches and used %d", src.calls, s.Batches)
	}
}

// A forward pass that fails while the pass still needs its minibatch is an error
// naming the minibatch, overlapped or not.
func TestComputeAheadReportsSourceError(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, sequential := range []bool{true, false} {
		m := smallPolicy(t, 11)
		src := &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8}
		fwd := func(ctx context.Context) error {
			if src.calls == 2 {
				return errors.New("the source broke")
			}
			return src.forward(ctx)
		}
		_, err := Compute(context.Background(), m, smallLoraConfig(), DefaultConfig(), fwd, Options{Sequential: sequential})
		if err == nil || !strings.Contains(err.Error(), "minibatch 3: the source broke") {
			t.Errorf("sequential %v: error %v, want one naming minibatch 3", sequential, err)
		}
		for _, l := range m.Linears() {
			if l.Observer != nil {
				t.Errorf("sequential %v: %s: observer left behind", sequential, l.Name)
			}
		}
	}
}

// A minibatch whose PCA fails (non-finite activations) ends the pass with the same
// error in both modes, and the overlapped pass returns only after its look-ahead
// forward pass has finished: the model is free and unhooked when Compute returns.
func TestComputeAheadStepErrorWaitsForLookAhead(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var msgs []string
	for _, sequential := range []bool{true, false} {
		m := smallPolicy(t, 11)
		src := &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8}
		var running atomic.Int32
		fwd := func(ctx context.Context) error {
			running.Add(1)
			defer running.Add(-1)
			switch src.calls {
			case 2: // minibatch 3's activations are NaN from the first layer on
				for _, l := range m.Linears() {
					if l.B == nil {
						continue
					}
					for i := range l.B.Data {
						l.B.Data[i] = float32(math.NaN())
					}
				}
			case 3:
				time.Sleep(20 * time.Millisecond) // the look-ahead outlives the failing Step
			}
			return src.forward(ctx)
		}
		_, err := Compute(context.Background(), m, smallLoraConfig(), DefaultConfig(), fwd, Options{Sequential: sequential})
		if err == nil || !strings.Contains(err.Error(), "minibatch 3") {
			t.Fatalf("sequential %v: error %v, want one naming minibatch 3", sequential, err)
		}
		if n := running.Load(); n != 0 {
			t.Errorf("sequential %v: Compute returned with %d forward passes running", sequential, n)
		}
		for _, l := range m.Linears() {
			if l.Observer != nil {
				t.Errorf("sequential %v: %s: observer left behind", sequential, l.Name)
			}
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] {
		t.Errorf("errors differ:\nsequential: %s\noverlapped: %s", msgs[0], msgs[1])
	}
}

// A panic in a look-ahead forward pass reaches Compute's caller, on its goroutine,
// after the hooks are removed.
func TestComputeAheadPanicReachesCaller(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	m := smallPolicy(t, 11)
	src := &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8}
	fwd := func(ctx context.Context) error {
		if src.calls == 2 {
			panic("the source exploded")
		}
		return src.forward(ctx)
	}
	func() {
		defer func() {
			if r := recover(); r != "the source exploded" {
				t.Errorf("recovered %v, want the source's panic", r)
			}
		}()
		Compute(context.Background(), m, smallLoraConfig(), DefaultConfig(), fwd, Options{})
		t.Error("Compute returned; want the source's panic")
	}()
	for _, l := range m.Linears() {
		if l.Observer != nil {
			t.Errorf("%s: observer left behind", l.Name)
		}
	}
}

// A context cancelled before or during the pass stops it in both modes with an
// error that wraps the context's. (Cancelled from inside forward, the overlapped
// pass stops one minibatch earlier: the minibatch in flight is not folded in.)
func TestComputeAheadCancel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, sequential := range []bool{true, false} {
		m := smallPolicy(t, 11)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		src := &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8}
		_, err := Compute(ctx, m, smallLoraConfig(), DefaultConfig(), src.forward, Options{Sequential: sequential})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped after 0 minibatches") || src.calls != 0 {
			t.Errorf("sequential %v, cancelled before: error %v after %d reads; want context.Canceled after 0", sequential, err, src.calls)
		}
		ctx, cancel = context.WithCancel(context.Background())
		src = &batchSource{m: m, rng: rand.New(rand.NewPCG(12, 12)), b: 8}
		fwd := func(c context.Context) error {
			if src.calls == 3 {
				cancel()
			}
			if err := c.Err(); err != nil {
				return err
			}
			return src.forward(c)
		}
		_, err = Compute(ctx, m, smallLoraConfig(), DefaultConfig(), fwd, Options{Sequential: sequential})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("sequential %v, cancelled during: error %v, want context.Canceled", sequential, err)
		}
	}
}
