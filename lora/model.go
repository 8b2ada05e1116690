package lora

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/evarl/evarl/nn"
)

// Base is what lora needs from a model (policy.Model has both methods): its linear
// layers, by name, and all its parameters, to freeze them and fingerprint them. A
// Base that also implements Embedder offers its embedding tables to adapt, and one
// with a Training() bool method (policy.Model) has its adapters start in its mode.
type Base interface {
	Linears() []*nn.Linear
	Params() *nn.Params
}

// Options carries what an init method needs beyond the config.
type Options struct {
	// Rng draws random/gaussian initialisations and seeds each adapter's dropout
	// stream. Required unless every adapter is pissa/olora/eva-initialised and
	// dropout is 0.
	Rng *rand.Rand
	// EvaA holds, for init "eva", each adapted Linear layer's lora_A rows
	// (rank×in, row-major), as eva.Apply builds them from an EVA state; layers whose
	// rank is 0 get no adapter and need no entry.
	EvaA map[string][]float32
	// EvaCounts holds, for init "eva", each adapted embedding table's id counts
	// over the EVA data: N entries, how often each row was looked up by a real
	// (unpadded) token. The package doc explains why they are all EVA needs there.
	EvaCounts map[string][]float64
	// AllowUnverified (Load only) accepts adapter files that carry no evarl
	// checksums: a PEFT adapter saved in Python, or one evarl wrote before it sealed
	// adapter files. Checksums that are present are verified regardless, and the base
	// model's fingerprint, when the file records one.
	AllowUnverified bool
}

// checkRank enforces the bound on an adapter's rank: r ≤ max(in, out) of its layer
// (in inputs and out outputs; a table's rows and channels), 2·max(in, out) for a
// loaded adapter (rankFactor 2: Save stores a PiSSA or OLoRA adapter of rank r as an
// ordinary one of rank 2r). The update B·A has rank at most min(in, out) whatever
// r is, so ranks above that add parameters, not expressiveness; but a uniform r
// over all layers (PEFT's default, the presets) meets narrow layers (the return
// embedding has one input, a head two outputs) where PEFT trains r > min(in, out)
// and so does evarl. Beyond the layer's widest side, though, both factors are
// redundant and the parameters grow without use (r = 100000 on a 64-wide layer
// would be 12.8M of them): that is refused, which also bounds what adapters
// allocate (at most 2·max(in, out)·(in + out) per layer) before they are.
func checkRank(t Target, rankFactor int) error {
	lim := rankFactor * max(t.In, t.Out)
	if t.Rank <= lim {
		return nil
	}
	what := "layer"
	if t.Embedding {
		what = "embedding table"
	}
	if rankFactor == 1 {
		return fmt.Errorf("lora: %s %s (in %d, out %d): r = %d exceeds max(in, out) = %d (its update B·A has rank at most min(in, out) = %d; a larger r only adds parameters)",
			what, t.Name, t.In, t.Out, t.Rank, lim, min(t.In, t.Out))
	}
	return fmt.Errorf("lora: %s %s (in %d, out %d): r = %d exceeds %d·max(in, out) = %d (the bound on a rank, doubled for saved PiSSA/OLoRA adapters)",
		what, t.Name, t.In, t.Out, t.Rank, rankFactor, lim)
}

// checkRanks runs checkRank on every target, with an EVA embedding table's rank
// capped at its number of ids as attach caps it.
func checkRanks(ts []Target, cfg Config, rankFactor int) error {
	for _, t := range ts {
		if t.Embedding && cfg.Init == InitEVA {
			t.Rank = min(t.Rank, t.In) // capped below, scale kept
		}
		if err := checkRank(t, rankFactor); err != nil {
			return err
		}
	}
	return nil
}

// Check reports the first reason Apply would refuse cfg on base (an invalid
// field, an entry or pattern that selects nothing, a rank above a layer's widest
// side) without attaching anything. Callers that do costly work before they
// attach adapters, such as evaluating the base policy or an EVA pass, call it
// first so that a typo in the config costs nothing.
//
// With Init eva, a Linear layer's rank comes from the EVA pass, which keeps at most
// as many components as the layer has inputs, so its nominal r is not refused for
// being large: only the entries and patterns are checked there.
func Check(base Base, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ts, _, err := resolve(base, &cfg)
	if err != nil {
		return err
	}
	if cfg.Init == InitEVA {
		for i := range ts {
			ts[i].Rank = min(ts[i].Rank, ts[i].In)
		}
	}
	return checkRanks(ts, cfg, 1)
}

// Model is a base model with adapters attached. The base parameters are frozen; the
// adapters' A, B (and DoRA's M) and the modules_to_save parameters are the
// trainable parameters (Params).
type Model struct {
	// Config is the configuration the adapters were built from.
	Config Config
	// Adapters are the Linear layers' adapters, in the order of the base model's
	// linear layers.
	Adapters []*Adapter
	// Embeddings are the embedding tables' adapters, in the base model's order.
	Embeddings []*EmbeddingAdapter

	base        Base
	params      nn.Params
	fingerprint string
	// trainability of the base parameters before attach, for rollback
	wasTrainable map[*nn.Param]bool
	// modules_to_save parameters, their values at attach (restored by Detach and
	// while disabled) and their trained values while disabled
	saved    []*nn.Param
	original [][]float32
	trained  [][]float32
	disabled bool
}

// lowRanks returns the shared part of every adapter, Linear adapters first.
func (m *Model) lowRanks() []*lowRank {
	out := make([]*lowRank, 0, len(m.Adapters)+len(m.Embeddings))
	for _, a := range m.Adapters {
		out = append(out, &a.lr)
	}
	for _, a := range m.Embeddings {
		out = append(out, &a.lr)
	}
	return out
}

// Apply attaches adapters to the base model's target layers, initialises them with
// cfg.Init (and, with use_dora, DoRA's magnitude) and freezes every base parameter
// except those of modules_to_save. With every init the adapted model starts
// computing exactly what the base model did: B = 0 (random, gaussian, eva; A = 0 for
// a table's random and gaussian init), or, for pissa and olora, part of the weight
// moved into the adapter and the residual left in the base; DoRA's magnitude starts
// at the row norms of the (residual) base weight plus the adapter's product.
func Apply(base Base, cfg Config, opt Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := attach(base, cfg, opt.Rng, 1)
	if err != nil {
		return nil, err
	}
	if err := m.initialise(opt); err != nil {
		m.rollback()
		return nil, err
	}
	return m, nil
}

// initialise runs cfg.Init on every adapter, then DoRA's magnitude init.
func (m *Model) initialise(opt Options) error {
	for _, a := range m.Adapters {
		if err := a.initialise(m.Config.Init, opt); err != nil {
			return err
		}
	}
	for _, e := range m.Embeddings {
		if err := e.initialise(m.Config.Init, opt); err != nil {
			return err
		}
	}
	if m.Config.UseDoRA {
		for _, lr := range m.lowRanks() {
			lr.initMagnitude()
		}
	}
	return nil
}

// gemmOf picks the backend embedding adapters compute on: the model's own
// (policy.Model.Gemm), else its first Linear layer's, else gonum's.
func gemmOf(base Base) nn.Gemm {
	if g, ok := base.(interface{ Gemm() nn.Gemm }); ok && g.Gemm() != nil {
		return g.Gemm()
	}
	if ls := base.Linears(); len(ls) > 0 {
		return ls[0].Gemm
	}
	return nn.GonumGemm{}
}

// attach creates zero adapters on the target layers and freezes the base. It leaves
// the base model as it found it on error. An adapter's rank may be at most
// rankFactor·min(in, out) of its layer (see checkRank), checked for every target
// before any adapter is allocated.
func attach(base Base, cfg Config, rng *rand.Rand, rankFactor int) (*Model, error) {
	ts, saved, err := resolve(base, &cfg)
	if err != nil {
		return nil, err
	}
	if err := checkRanks(ts, cfg, rankFactor); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, base: base, fingerprint: Fingerprint(base.Params())}
	linears := map[string]*nn.Linear{}
	for _, l := range base.Linears() {
		linears[l.Name] = l
	}
	tables := map[string]*nn.Embedding{}
	for _, e := range embeddings(base) {
		tables[e.Name] = e
	}
	for _, t := range ts {
		if t.Rank == 0 {
			continue // rank 0 (e.g. from EVA): no adapter
		}
		if t.Embedding {
			e := tables[t.Name]
			if e.Adapter != nil {
				return nil, fmt.Errorf("lora: embedding %s already has an adapter", e.Name)
			}
			r, alpha := t.Rank, t.Alpha
			if cfg.Init == InitEVA && r > e.N {
				// N basis vectors already span every row: cap the rank, keep the scale.
				alpha = sameScaleAlpha(alpha, r, e.N, cfg.UseRSLoRA)
				r = e.N
			}
			m.Embeddings = append(m.Embeddings, newEmbeddingAdapter(e, r, alpha, cfg.Scale(r, alpha), cfg.UseDoRA, gemmOf(base)))
			continue
		}
		l := linears[t.Name]
		if l.Adapter != nil {
			return nil, fmt.Errorf("lora: layer %s already has an adapter", l.Name)
		}
		var src *rand.PCG
		if cfg.Dropout > 0 {
			if rng == nil {
				return nil, fmt.Errorf("lora: dropout %v needs a random source (Options.Rng)", cfg.Dropout)
			}
			src = rand.NewPCG(rng.Uint64(), rng.Uint64())
		}
		m.Adapters = append(m.Adapters, newAdapter(l, t.Rank, t.Alpha, cfg.Scale(t.Rank, t.Alpha), cfg.Dropout, cfg.UseDoRA, src))
	}
	training := false
	if t, ok := base.(interface{ Training() bool }); ok {
		training = t.Training()
	}
	for _, a := range m.Adapters {
		a.Layer.Adapter = a
		a.SetTrain(training)
		m.params.Add(a.lr.params()...)
	}
	for _, a := range m.Embeddings {
		a.Layer.Adapter = a
		m.params.Add(a.lr.params()...)
	}
	m.wasTrainable = map[*nn.Param]bool{}
	for _, p := range base.Params().All() {
		m.wasTrainable[p] = p.Trainable()
		p.SetTrainable(false)
	}
	for _, p := range saved {
		p.SetTrainable(true)
		m.saved = append(m.saved, p)
		m.original = append(m.original, append([]float32(nil), p.Data...))
		m.params.Add(p)
	}
	return m, nil
}

// sameScaleAlpha is the alpha that keeps rank r's scale at rank r2: alpha·r2/r, or
// alpha·√(r2/r) under rsLoRA (EVA's adjust_scaling_factors rule).
func sameScaleAlpha(alpha float64, r, r2 int, rs bool) float64 {
	if rs {
		return alpha * math.Sqrt(float64(r2)/float64(r))
	}
	return alpha * float64(r2) / float64(r)
}

// rollback undoes attach and any pissa/olora residual, for a failed Apply or Load.
func (m *Model) rollback() {
	m.Detach()
	for _, lr := range m.lowRanks() {
		lr.undoResidual()
	}
	for p, on := range m.wasTrainable {
		p.SetTrainable(on)
	}
}

// Params returns the trainable parameters: every Linear adapter's A, B (and M), in
// layer order, then every embedding adapter's, then the parameters of
// modules_to_save.
func (m *Model) Params() *nn.Params { return &m.params }

// Adapter returns the adapter on the named Linear layer.
func (m *Model) Adapter(layer string) (*Adapter, bool) {
	for _, a := range m.Adapters {
		if a.Layer.Name == layer {
			return a, true
		}
	}
	return nil, false
}

// Embedding returns the adapter on the named embedding table.
func (m *Model) Embedding(table string) (*EmbeddingAdapter, bool) {
	for _, a := range m.Embeddings {
		if a.Layer.Name == table {
			return a, true
		}
	}
	return nil, false
}

// SavedModules returns the names of the modules trained fully (modules_to_save,
// resolved against the model), as the adapter file records them.
func (m *Model) SavedModules() []string { return savedModules(m.saved) }

// Fingerprint returns the base model's fingerprint recorded when the adapters were
// attached (before pissa/olora changed any weight).
func (m *Model) Fingerprint() string { return m.fingerprint }

// SetTrain switches adapter dropout on (training) or off (evaluation). A
// policy.Model's own SetTrain does this too (the adapters implement nn.TrainMode).
func (m *Model) SetTrain(on bool) {
	for _, a := range m.Adapters {
		a.SetTrain(on)
	}
}

// SetEnabled switches every adapter on or off, so that the base model's outputs
// can be computed with the adapters attached (PEFT's disable_adapter context and
// enable_adapter_layers): an EVA pass, or a comparison against the base. While
// disabled, the model computes exactly what the base model did before Apply: merged
// adapters are unmerged, pissa/olora adapters add back the part their init took out
// of the base weight, and modules_to_save parameters hold their values at attach
// (their trained values come back on enabling). Do not train while disabled.
//
//	m.SetEnabled(false)
//	defer m.SetEnabled(true)
func (m *Model) SetEnabled(on bool) {
	for _, lr := range m.lowRanks() {
		lr.setEnabled(on)
	}
	if on == !m.disabled {
		return
	}
	if len(m.trained) < len(m.saved) {
		m.trained = make([][]float32, len(m.saved))
	}
	for i, p := range m.saved {
		if on {
			copy(p.Data, m.trained[i])
		} else {
			m.trained[i] = append(m.trained[i][:0], p.Data...)
			copy(p.Data, m.original[i])
		}
	}
	m.disabled = !on
}

// Enabled reports whether the model's adapters are switched on (SetEnabled).
func (m *Model) Enabled() bool { return !m.disabled }

// Merge folds every adapter into its base weight (see Adapter.Merge). On error the
// adapters merged so far are unmerged again, so the model is left as it was.
func (m *Model) Merge(safe bool) error {
	lrs := m.lowRanks()
	for i, lr := range lrs {
		if err := lr.merge(safe); err != nil {
			for _, done := range lrs[:i] {
				_ = done.unmerge()
			}
			return err
		}
	}
	return nil
}

// Unmerge puts back every merged adapter's base weight.
func (m *Model) Unmerge() error {
	for _, lr := range m.lowRanks() {
		if lr.merged {
			if err := lr.unmerge(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Detach removes the adapters from the base layers (unmerging merged ones) and puts
// the modules_to_save parameters back to their values at attach. The base
// parameters stay frozen, and pissa/olora residuals stay in the base weights.
func (m *Model) Detach() {
	_ = m.Unmerge()
	for _, a := range m.Adapters {
		if a.Layer.Adapter == a {
			a.Layer.Adapter = nil
		}
	}
	for _, a := range m.Embeddings {
		if a.Layer.Adapter == a {
			a.Layer.Adapter = nil
		}
	}
	for i, p := range m.saved {
		copy(p.Data, m.original[i])
		p.SetTrainable(false)
	}
	m.disabled = false
}

// MergeAndUnload folds every adapter into its base weight and removes the adapters
// from the layers for good (PEFT's merge_and_unload): the base model is left a plain
// model that computes what the adapted one did, with no hook to slow it down (a
// policy.Model runs batches on both lanes again). modules_to_save keep their trained
// values. The Model must not be used afterwards. On error (safe mode, NaN/Inf)
// nothing is changed.
func (m *Model) MergeAndUnload(safe bool) error {
	if err := m.Merge(safe); err != nil {
		return err
	}
	for _, a := range m.Adapters {
		if a.Layer.Adapter == a {
			a.Layer.Adapter = nil
		}
	}
	for _, a := range m.Embeddings {
		if a.Layer.Adapter == a {
			a.Layer.Adapter = nil
		}
	}
	m.Adapters, m.Embeddings, m.saved, m.original, m.trained = nil, nil, nil, nil, nil
	return nil
}

// DropoutState returns the state of every adapter's dropout stream, so that a
// resumed run draws the same masks as an uninterrupted one (SetDropoutState).
func (m *Model) DropoutState() ([]byte, error) {
	var states [][]byte
	for _, a := range m.Adapters {
		if a.src == nil {
			continue
		}
		b, err := a.src.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("lora: dropout state of %s: %w", a.Layer.Name, err)
		}
		states = append(states, b)
	}
	return json.Marshal(states)
}

// SetDropoutState restores the dropout streams DropoutState returned, for the same
// config and model; any other state is an error.
func (m *Model) SetDropoutState(data []byte) error {
	var states [][]byte
	if err := json.Unmarshal(data, &states); err != nil {
		return fmt.Errorf("lora: dropout state: %w", err)
	}
	var srcs []*rand.PCG
	for _, a := range m.Adapters {
		if a.src != nil {
			srcs = append(srcs, a.src)
		}
	}
	if len(states) != len(srcs) {
		return fmt.Errorf("lora: dropout state has %d streams; these adapters have %d", len(states), len(srcs))
	}
	for i, st := range states {
		if err := srcs[i].UnmarshalBinary(st); err != nil {
			return fmt.Errorf("lora: dropout state %d: %w", i, err)
		}
	}
	return nil
}

// Report counts parameters like PEFT's print_trainable_parameters.
type Report struct {
	// Trainable counts adapter parameters and any base parameter left trainable
	// (modules_to_save); Total counts base and adapter parameters.
	Trainable, Total int
}

// Report returns the trainable (adapters and modules_to_save) and total (base +
// adapter) parameter counts.
func (m *Model) Report() Report {
	total, trainable := m.base.Params().Count()
	at := 0
	for _, lr := range m.lowRanks() {
		for _, p := range lr.params() {
			at += p.Size()
		}
	}
	return Report{Trainable: trainable + at, Total: total + at}
}

// String formats the report as PEFT does.
func (r Report) String() string {
	pct := 0.0
	if r.Total > 0 {
		pct = 100 * float64(r.Trainable) / float64(r.Total)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(r.Trainable), commas(r.Total), pct)
}

func commas(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Fingerprint identifies a base model by a SHA-256 over its parameters' names,
// shapes and float32 bits in registration order: an adapter saved on one checkpoint
// is refused on any other.
func Fingerprint(ps *nn.Params) string {
	h := sha256.New()
	var buf [8]byte
	var chunk [4096]byte // the values are hashed a chunk at a time, not copied whole
	for _, p := range ps.All() {
		h.Write([]byte(p.Name))
		h.Write([]byte{0})
		for _, s := range p.Shape {
			binary.LittleEndian.PutUint64(buf[:], uint64(s))
			h.Write(buf[:])
		}
		for data := p.Data; len(data) > 0; {
			n := min(len(data), len(chunk)/4)
			for i, v := range data[:n] {
				binary.LittleEndian.PutUint32(chunk[4*i:], math.Float32bits(v))
			}
			h.Write(chunk[:4*n])
			data = data[n:]
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
