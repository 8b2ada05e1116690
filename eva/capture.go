package eva

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
)

// Forward runs the base model on the next minibatch of the activation source, e.g.
// a policy.Batch of rollout or dataset windows, so that the target layers' input
// observers see it. It returns io.EOF when the source is exhausted. Compute may
// call it on a goroutine of its own, one call at a time, while it folds in the
// previous minibatch (see Options.Sequential). Passing the
// padding mask to the layers (for a Decision Transformer: the per-step mask
// expanded to its 3 tokens per step, which policy.Model.Forward does) is what lets
// the capture drop padding rows.
type Forward func(ctx context.Context) error

// LossRower is implemented by models that know which input rows of each linear
// layer carry the loss (policy.Model does). A Config.LabelMask other than "none"
// needs it.
type LossRower interface {
	// LossRows fills at and path (n entries each) for the n input rows the named
	// layer receives in the forward pass in progress: at[r] when the loss is read at
	// row r's token, path[r] when row r's output reaches the loss at all; both are
	// false for padding rows. It reports false when it does not know the layer or
	// the layer does not receive n rows.
	LossRows(layer string, n int, at, path []bool) bool
}

// observer collects one layer's real (unmasked) input rows during a forward pass,
// and with a label mask only those its LossRower selects, into one of two buffers
// (slot): the overlapped pass reads one minibatch's rows while the next forward
// pass fills the other.
type observer struct {
	on   bool
	slot int
	data [2][]float32
	n    [2]int

	name     string
	lr       LossRower // nil: every real row
	paths    bool      // keep path rows (loss_paths) rather than at rows (loss_tokens)
	at, path []bool
	err      error
}

// Observe implements nn.Observer: it copies the rows whose mask entry is true (and
// that the label mask keeps).
func (o *observer) Observe(x []float32, n, in int, mask []bool) {
	if !o.on || o.err != nil {
		return
	}
	var keep []bool
	if o.lr != nil {
		if cap(o.at) < n {
			o.at, o.path = make([]bool, n), make([]bool, n)
		}
		o.at, o.path = o.at[:n], o.path[:n]
		if !o.lr.LossRows(o.name, n, o.at, o.path) {
			o.err = fmt.Errorf("eva: label mask: the model cannot tell which of the %d input rows of layer %s carry the loss", n, o.name)
			return
		}
		keep = o.at
		if o.paths {
			keep = o.path
		}
	}
	// Room for every row at once: appending row by row would copy the buffer as it
	// grows, and a pass's first minibatches would allocate twice what they keep.
	o.data[o.slot] = slices.Grow(o.data[o.slot], n*in)
	for r := 0; r < n; r++ {
		if (mask != nil && !mask[r]) || (keep != nil && !keep[r]) {
			continue
		}
		o.data[o.slot] = append(o.data[o.slot], x[r*in:(r+1)*in]...)
		o.n[o.slot]++
	}
}

// start prepares the observer for a forward pass into slot.
func (o *observer) start(on bool, slot int) {
	o.on, o.slot = on, slot
	o.data[slot], o.n[slot] = o.data[slot][:0], 0
}

// Targets lists the Linear layers of base that cfg adapts with a non-zero rank, with
// their nominal ranks: the layers an EVA pass for that LoRA config runs its PCA on.
func Targets(base lora.Base, cfg lora.Config) ([]Layer, error) {
	ts, err := lora.Targets(base, cfg)
	if err != nil {
		return nil, err
	}
	var out []Layer
	for _, t := range ts {
		if !t.Embedding && t.Rank > 0 {
			out = append(out, Layer{Name: t.Name, Rank: t.Rank, DIn: t.In})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("eva: the LoRA config's target_modules %v / target_regex %q select no Linear layer of the model; EVA initialises embedding tables from the id counts of a pass over Linear layers, so add one (or use init random)", cfg.TargetModules, cfg.TargetRegex)
	}
	return out, nil
}

// tables lists the embedding tables of base that cfg adapts with a non-zero rank.
func tables(base lora.Base, cfg lora.Config) ([]*nn.Embedding, error) {
	ts, err := lora.Targets(base, cfg)
	if err != nil {
		return nil, err
	}
	e, _ := base.(lora.Embedder)
	var out []*nn.Embedding
	for _, t := range ts {
		if !t.Embedding || t.Rank == 0 || e == nil {
			continue
		}
		for _, tab := range e.Embeddings() {
			if tab.Name == t.Name {
				out = append(out, tab)
			}
		}
	}
	return out, nil
}

// counter counts the ids an embedding table looks up for real tokens: a forward
// pass counts into a pending slot, which commit adds to the counts once the pass
// has used that minibatch (a look-ahead minibatch the pass never uses is not
// counted).
type counter struct {
	counts  []float64
	slot    int
	pending [2][]float64
}

func newCounter(n int) *counter {
	return &counter{counts: make([]float64, n), pending: [2][]float64{make([]float64, n), make([]float64, n)}}
}

// ObserveIDs implements nn.IDObserver.
func (c *counter) ObserveIDs(ids []int, mask []bool) {
	p := c.pending[c.slot]
	for i, id := range ids {
		if (mask == nil || mask[i]) && id >= 0 && id < len(p) {
			p[id]++
		}
	}
}

// start prepares the counter for a forward pass into slot.
func (c *counter) start(slot int) {
	c.slot = slot
	clear(c.pending[slot])
}

// commit adds the counts of slot's minibatch.
func (c *counter) commit(slot int) {
	for i, v := range c.pending[slot] {
		c.counts[i] += v
	}
}

// switchable is an adapter that can be turned off (package lora's).
type switchable interface {
	SetEnabled(on bool)
	Enabled() bool
}

// disableAdapters turns off every adapter attached to base, so that a pass sees the
// base model's activations at every layer (an adapter upstream of a target changes
// its input too), and returns what turns them back on.
func disableAdapters(base lora.Base) func() {
	var off []switchable
	hooks := []any{}
	for _, l := range base.Linears() {
		hooks = append(hooks, l.Adapter)
	}
	if e, ok := base.(lora.Embedder); ok {
		for _, t := range e.Embeddings() {
			hooks = append(hooks, t.Adapter)
		}
	}
	for _, h := range hooks {
		if s, ok := h.(switchable); ok && s.Enabled() {
			s.SetEnabled(false)
			off = append(off, s)
		}
	}
	return func() {
		for _, s := range off {
			s.SetEnabled(true)
		}
	}
}

// Compute runs the EVA pass on base: it hooks an input observer onto every target
// layer of loraCfg, calls forward once per minibatch until every layer's components
// have converged (or cfg.MaxBatches is reached), and returns the state, stamped with
// the base model's fingerprint. With GOMAXPROCS ≥ 2 each call of forward runs
// while the previous minibatch's PCAs update, so the last call may read a
// minibatch the pass does not use; the state is the same as one minibatch at a
// time (Options.Sequential). Adapters already attached to the targets are
// switched off for the pass, so the activations are the base model's; the caller
// runs forward in evaluation mode (no dropout). Hooks and adapters are restored
// before Compute returns. With cfg.LabelMask other than "none", base must implement
// LossRower. opt.Log receives a line as each layer converges and a summary.
func Compute(ctx context.Context, base lora.Base, loraCfg lora.Config, cfg Config, forward Forward, opt Options) (*State, error) {
	layers, err := Targets(base, loraCfg)
	if err != nil {
		return nil, err
	}
	if forward == nil {
		return nil, fmt.Errorf("eva: no activation source")
	}
	if opt.Kernels == nil {
		if ls := base.Linears(); len(ls) > 0 {
			opt.Kernels = nn.Float64KernelsOf(ls[0].Gemm)
		}
	}
	pass, err := NewPass(cfg, layers, opt)
	if err != nil {
		return nil, err
	}
	log := pass.log
	var lr LossRower
	if cfg.LabelMask != LabelMaskNone {
		var ok bool
		if lr, ok = base.(LossRower); !ok {
			return nil, fmt.Errorf("eva: label_mask = %q needs a model that reports which rows carry the loss (a LossRower such as policy.Model); this one does not", cfg.LabelMask)
		}
	}
	byName := map[string]*nn.Linear{}
	for _, l := range base.Linears() {
		byName[l.Name] = l
		if a, ok := l.Adapter.(interface{ Merged() bool }); ok && a.Merged() {
			return nil, fmt.Errorf("eva: layer %s has a merged adapter, so its base weights are not the pretrained ones; unmerge it first", l.Name)
		}
	}
	tabs, err := tables(base, loraCfg)
	if err != nil {
		return nil, err
	}
	obs := make([]*observer, len(layers))
	for i, t := range layers {
		l := byName[t.Name]
		if l.Observer != nil {
			return nil, fmt.Errorf("eva: layer %s already has an input observer", l.Name)
		}
		obs[i] = &observer{name: t.Name, lr: lr, paths: cfg.LabelMask == LabelMaskLossPaths}
		l.Observer = obs[i]
		defer func() { l.Observer = nil }()
	}
	counts := make([]*counter, len(tabs))
	for i, t := range tabs {
		if t.Observer != nil {
			return nil, fmt.Errorf("eva: embedding %s already has an id observer", t.Name)
		}
		counts[i] = newCounter(t.N)
		t.Observer = counts[i]
		defer func() { t.Observer = nil }()
	}
	defer disableAdapters(base)()
	start := time.Now()
	fetch := func(want []bool, slot int) ([]Rows, error) {
		for i, o := range obs {
			o.start(want[i], slot)
		}
		for _, c := range counts {
			c.start(slot)
		}
		if err := forward(ctx); err != nil {
			return nil, err
		}
		rows := make([]Rows, len(obs))
		for i, o := range obs {
			if o.err != nil {
				return nil, o.err
			}
			if want[i] {
				rows[i] = Rows{Data: o.data[slot], N: o.n[slot], D: layers[i].DIn}
			}
		}
		return rows, nil
	}
	commit := func(slot int) {
		for _, c := range counts {
			c.commit(slot)
		}
	}
	// With one P the overlap gains nothing, and Go code would run beside a BLAS
	// call (which leaves its P) on another thread: a run given GOMAXPROCS=1, as an
	// experiment's runs are, keeps to one thread of computation.
	ahead := !opt.Sequential && runtime.GOMAXPROCS(0) >= 2
	state, err := pass.run(ctx, fetch, commit, ahead)
	if err != nil {
		return nil, err
	}
	state.Fingerprint = lora.Fingerprint(base.Params())
	for i, t := range tabs {
		state.Tables = append(state.Tables, TableState{Name: t.Name, Counts: counts[i].counts})
	}
	log.WithFields(logrus.Fields{"minibatches": state.Batches, "layers": len(state.Layers), "seconds": math.Round(time.Since(start).Seconds()*1000) / 1000}).
		Info("eva: pass done")
	return state, nil
}

// Apply attaches LoRA adapters initialised from the EVA state: lora_A = the state's
// components (whitened if the state's config says so), lora_B = 0, ranks as
// redistributed (a rank-0 layer gets no adapter) and, with adjust_scaling_factors,
// alpha scaled with the rank so that each layer keeps the scale its nominal rank
// gave it. The resolved ranks and alphas go into the config's rank and alpha
// patterns, so a saved adapter records them as PEFT does. The state must come from
// this base model (fingerprint) and cover exactly the config's target layers.
func Apply(base lora.Base, loraCfg lora.Config, state *State, opt lora.Options) (*lora.Model, error) {
	layers, err := Targets(base, loraCfg)
	if err != nil {
		return nil, err
	}
	if state.Fingerprint != "" {
		if fp := lora.Fingerprint(base.Params()); fp != state.Fingerprint {
			return nil, fmt.Errorf("eva: the EVA state was computed on another base model (%.19s…, this one is %.19s…)", state.Fingerprint, fp)
		}
	}
	if len(layers) != len(state.Layers) {
		return nil, fmt.Errorf("eva: the EVA state covers %d layers, the LoRA config targets %d; compute the state with the same target_modules and rank_pattern", len(state.Layers), len(layers))
	}
	cfg := loraCfg
	cfg.Init = lora.InitEVA
	// Every target gets its own entries (the user's patterns are already resolved
	// into the nominal ranks and alphas), keyed by the escaped layer name.
	cfg.RankPattern = map[string]int{}
	cfg.AlphaPattern = map[string]float64{}
	opt.EvaA = map[string][]float32{}
	ts, err := lora.Targets(base, loraCfg)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if !t.Embedding || t.Rank == 0 {
			continue
		}
		var counts []float64
		for _, tab := range state.Tables {
			if tab.Name == t.Name {
				counts = tab.Counts
			}
		}
		if len(counts) != t.In {
			return nil, fmt.Errorf("eva: the EVA state has no id counts of the %d rows of embedding %s; compute the state with the same target_modules", t.In, t.Name)
		}
		if opt.EvaCounts == nil {
			opt.EvaCounts = map[string][]float64{}
		}
		opt.EvaCounts[t.Name] = counts
		cfg.RankPattern[regexp.QuoteMeta(t.Name)] = t.Rank
		cfg.AlphaPattern[regexp.QuoteMeta(t.Name)] = t.Alpha
	}
	for i, t := range layers {
		ls := &state.Layers[i]
		if ls.Name != t.Name || ls.NominalRank != t.Rank || ls.DIn != t.DIn {
			return nil, fmt.Errorf("eva: state layer %d is %s (r %d, in %d); the LoRA config needs %s (r %d, in %d)", i, ls.Name, ls.NominalRank, ls.DIn, t.Name, t.Rank, t.DIn)
		}
		cfg.RankPattern[regexp.QuoteMeta(t.Name)] = ls.Rank
		cfg.AlphaPattern[regexp.QuoteMeta(t.Name)] = ls.ScaledAlpha(loraCfg.AlphaFor(t.Name), state.Config.AdjustScalingFactors, loraCfg.UseRSLoRA)
		if ls.Rank > 0 {
			opt.EvaA[t.Name] = ls.LoraA(state.Config.Whiten)
		}
	}
	return lora.Apply(base, cfg, opt)
}
