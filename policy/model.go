package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/evarl/evarl/nn"
)

// Bounds of the Gaussian head's log standard deviation: the raw output passes through
// logStdMin + ½(logStdMax − logStdMin)(tanh(raw) + 1), as in the Online Decision
// Transformer's code, so σ stays in [e⁻⁵, e²] and the likelihood cannot blow up.
const (
	logStdMin = -5.0
	logStdMax = 2.0
)

// Model is a Decision Transformer (Chen et al. 2021) built from nn layers:
//
//	R̂ₜ/scale → embed_return  ┐
//	(sₜ−μ)/σ → embed_state   ├ + embed_timestep(t) → tokens (R₁, s₁, a₁, R₂, …) (B, 3K, C)
//	aₜ       → embed_action  ┘
//	→ embed_ln → dropout → Layers × pre-LN GPT block → ln_f at the state tokens → head
//
// A block is x += drop(attn.o(attn(ln1(x)))); x += drop(mlp.proj(act(mlp.fc(ln2(x))))),
// with causal self-attention over the 3K tokens, padding tokens of left-padded windows
// excluded as keys. The action of step t is predicted from the state token sₜ, which
// sees R₁..R̂ₜ, s₁..sₜ and a₁..aₜ₋₁ but not aₜ.
//
// Parameter names follow the layers ("embed_state.weight", "blocks.0.attn.q.weight",
// "blocks.0.mlp.fc.bias", "ln_f.weight", "head.weight"), so adapters and checkpoints
// address them by pattern. The model owns its activation buffers: they are sized on
// the first Forward for a batch and reused, so training steps allocate nothing after
// the first. A Model is not safe for concurrent use.
type Model struct {
	cfg    Config
	gemm   nn.Gemm
	params nn.Params
	// linears lists every Linear layer in registration order, tables every
	// Embedding (lora and eva target them by name).
	linears []*nn.Linear
	tables  []*nn.Embedding
	train   bool
	rng     *rand.Rand // dropout masks and the Gaussian head's entropy samples

	// stateMean and stateStd normalise raw states, (StateDim) each.
	stateMean, stateStd []float32

	// lane is the model's own layers; shadow is a second set sharing their weights,
	// which runs half of a batch on another core (see parallel.go).
	lane
	shadow *lane
	// shadowSrc is the shadow lane's dropout source, re-seeded from rng per forward.
	shadowSrc *rand.PCG
	pairs     []shadowParam
	// shadowLinears are the shadow lane's copies of linears (same order), forks the
	// adapter forks on them.
	shadowLinears []*nn.Linear
	forks         []laneFork
	work          *worker
	headOut       int           // O
	dropouts      []*nn.Dropout // every dropout layer of both lanes (SetTrain switches them)
	buf           *buffers
	abuf          *actBuffers // the last block's rows while acting (act.go)
	ce            nn.CrossEntropy
	// fwdB, fwdK are the batch shape of the last Forward; lossDone tells Backward that
	// Loss has filled the head gradient for it.
	fwdB, fwdK int
	lossDone   bool
	plan       []blockPlan // what Backward computes, per block (backward.go)
	acted      bool        // the last forward was Act's (no training targets)
	split      int         // windows [0, split) ran on lane 0, the rest on the shadow lane
	oneLane    bool        // never split (benchmarks compare)
}

// lane is one complete set of layers: the embeddings, the blocks, ln_f and the head.
type lane struct {
	embedReturn *nn.Linear    // (1 → C)
	embedState  *nn.Linear    // (S → C)
	embedAction *nn.Linear    // (A → C), continuous actions
	embedActIdx *nn.Embedding // (N, C), discrete actions
	embedTime   *nn.Embedding // (MaxEpisodeLen, C)
	embedLN     *nn.LayerNorm
	embedDrop   *nn.Dropout
	blocks      []*block
	lnF         *nn.LayerNorm
	head        *nn.Linear // (C → O): N logits, A tanh pre-activations, or A means + A log-σ
}

// block is one pre-LN GPT block.
type block struct {
	ln1, ln2 *nn.LayerNorm
	attn     *nn.Attention // projections attn.q, attn.k, attn.v, attn.o (C → C)
	fc, proj *nn.Linear    // (C → 4C), (4C → C)
	attnDrop *nn.Dropout   // on the attention branch's output
	mlpDrop  *nn.Dropout   // on the MLP branch's output
}

// New builds a Decision Transformer with the given configuration, parameters drawn
// from rng as GPT-2 initialises them (N(0, 0.02²) weights and embeddings, zero biases,
// unit LayerNorm gains, output projections scaled by 1/√(2·Layers)). rng also drives
// dropout and the Gaussian head's entropy samples later; nil means a fixed seed of 0
// (for Load, which overwrites the weights). g computes every matrix product.
func New(cfg Config, rng *rand.Rand, g nn.Gemm) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("policy: New: nil Gemm backend")
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(0, 0))
	}
	C := cfg.EmbedDim
	m := &Model{cfg: cfg, gemm: g, rng: rng, train: true}
	m.stateMean = make([]float32, cfg.StateDim)
	m.stateStd = make([]float32, cfg.StateDim)
	for i := range m.stateStd {
		m.stateStd[i] = 1
	}
	lin := func(name string, in, out int) *nn.Linear {
		l := nn.NewLinear(name, in, out, true, g)
		m.linears = append(m.linears, l)
		m.params.Add(l.Params()...)
		return l
	}
	drop := func() *nn.Dropout {
		d := nn.NewDropout(float32(cfg.Dropout), rng)
		m.dropouts = append(m.dropouts, d)
		return d
	}
	ln := func(name string) *nn.LayerNorm {
		l := nn.NewLayerNorm(name, C)
		m.params.Add(l.Params()...)
		return l
	}
	m.embedTime = nn.NewEmbedding("embed_timestep", cfg.MaxEpisodeLen, C)
	m.params.Add(m.embedTime.Params()...)
	m.tables = append(m.tables, m.embedTime)
	m.embedReturn = lin("embed_return", 1, C)
	m.embedState = lin("embed_state", cfg.StateDim, C)
	if cfg.Action.IsDiscrete() {
		m.embedActIdx = nn.NewEmbedding("embed_action", cfg.Action.Discrete, C)
		m.params.Add(m.embedActIdx.Params()...)
		m.tables = append(m.tables, m.embedActIdx)
	} else {
		m.embedAction = lin("embed_action", cfg.Action.Dim, C)
	}
	m.embedLN = ln("embed_ln")
	m.embedDrop = drop()
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("blocks.%d.", l)
		b := &block{ln1: ln(p + "ln1")}
		b.attn = nn.NewAttention(p+"attn", C, cfg.Heads, g)
		for _, l := range []*nn.Linear{b.attn.Q, b.attn.K, b.attn.V, b.attn.O} {
			m.linears = append(m.linears, l)
			m.params.Add(l.Params()...)
		}
		b.ln2 = ln(p + "ln2")
		b.fc, b.proj = lin(p+"mlp.fc", C, 4*C), lin(p+"mlp.proj", 4*C, C)
		b.attnDrop, b.mlpDrop = drop(), drop()
		m.blocks = append(m.blocks, b)
	}
	m.lnF = ln("ln_f")
	switch cfg.Head {
	case HeadCategorical:
		m.headOut = cfg.Action.Discrete
	case HeadDeterministic:
		m.headOut = cfg.Action.Dim
	case HeadGaussian:
		m.headOut = 2 * cfg.Action.Dim
	}
	m.head = lin("head", C, m.headOut)
	m.init(rng)
	// The shadow lane's dropout draws from its own generator (the lanes run on two
	// goroutines), re-seeded from rng before every training forward that uses it, so
	// rng's state alone determines a run and a resumed run continues exactly.
	m.shadowSrc = rand.NewPCG(0, 0)
	m.buildShadow(rand.New(m.shadowSrc))
	return m, nil
}

// init draws the GPT-2 initialisation.
func (m *Model) init(rng *rand.Rand) {
	const std = 0.02
	m.embedTime.InitNormal(rng, std)
	if m.embedActIdx != nil {
		m.embedActIdx.InitNormal(rng, std)
	}
	projStd := std / math.Sqrt(2*float64(m.cfg.Layers))
	for _, l := range m.linears {
		s := std
		if strings.HasSuffix(l.Name, ".mlp.proj") || strings.HasSuffix(l.Name, ".attn.o") {
			s = projStd
		}
		l.InitNormal(rng, s)
	}
}

// SetRand makes rng the model's random source from now on: dropout masks and the
// Gaussian head's entropy samples (the shadow lane's dropout is re-seeded from it).
// A training run sets its own seeded stream so that the run, not whoever loaded the
// model, decides the draws.
func (m *Model) SetRand(rng *rand.Rand) {
	if rng == nil {
		panic("policy: SetRand: nil random source")
	}
	m.rng = rng
	for _, d := range m.lane.dropouts() {
		d.SetRand(rng)
	}
}

// dropouts lists the lane's dropout layers.
func (l *lane) dropouts() []*nn.Dropout {
	out := []*nn.Dropout{l.embedDrop}
	for _, b := range l.blocks {
		out = append(out, b.attnDrop, b.mlpDrop)
	}
	return out
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Params returns every parameter, addressable by name, in a fixed order.
func (m *Model) Params() *nn.Params { return &m.params }

// Linears returns every Linear layer in a fixed order; each carries its Name
// ("blocks.0.attn.q") and the Adapter and Observer hooks lora and eva plug into.
func (m *Model) Linears() []*nn.Linear { return m.linears }

// Linear returns the Linear layer with the given name ("blocks.1.mlp.fc").
func (m *Model) Linear(name string) (*nn.Linear, bool) {
	for _, l := range m.linears {
		if l.Name == name {
			return l, true
		}
	}
	return nil, false
}

// Embeddings returns every embedding table in a fixed order: "embed_timestep" and,
// for discrete actions, "embed_action". Like Linears they carry the Adapter and
// Observer hooks lora and eva plug into (LoRA on embedding layers).
func (m *Model) Embeddings() []*nn.Embedding { return m.tables }

// Gemm returns the backend the model computes on (adapters use the same one).
func (m *Model) Gemm() nn.Gemm { return m.gemm }

// SetTrain switches between training mode (dropout active) and evaluation mode. The
// mode reaches every hook of the model's layers that implements nn.TrainMode, so an
// attached adapter's dropout is on exactly while the model trains.
func (m *Model) SetTrain(on bool) {
	m.train = on
	for _, d := range m.dropouts {
		d.Train = on
	}
	pass := func(hook any) {
		if h, ok := hook.(nn.TrainMode); ok {
			h.SetTrain(on)
		}
	}
	for _, l := range m.linears {
		pass(l.Adapter)
		pass(l.Observer)
	}
	for _, e := range m.tables {
		pass(e.Adapter)
		pass(e.Observer)
	}
}

// Training reports whether the model is in training mode.
func (m *Model) Training() bool { return m.train }

// SetStateNorm sets the statistics the model normalises raw states with, usually the
// training dataset's per-dimension mean and standard deviation; they are saved with
// the checkpoint, so a loaded policy takes raw observations.
func (m *Model) SetStateNorm(mean, std []float32) error {
	if err := checkNorm(mean, std, m.cfg.StateDim); err != nil {
		return fmt.Errorf("policy: state normalisation: %w", err)
	}
	copy(m.stateMean, mean)
	copy(m.stateStd, std)
	return nil
}

// StateNorm returns copies of the state normalisation statistics.
func (m *Model) StateNorm() (mean, std []float32) {
	return append([]float32(nil), m.stateMean...), append([]float32(nil), m.stateStd...)
}

// Clone returns an independent copy of the model: the same configuration, weights,
// state statistics and backend, fresh buffers, in evaluation mode, every parameter
// trainable, with no adapter or observer attached, its random source rng (nil: a
// fixed seed). It is how a run keeps the pretrained weights it started from while it
// trains a copy.
func (m *Model) Clone(rng *rand.Rand) (*Model, error) {
	c, err := New(m.cfg, rng, m.gemm)
	if err != nil {
		return nil, err
	}
	for _, p := range m.params.All() {
		q, ok := c.params.Get(p.Name)
		if !ok {
			return nil, fmt.Errorf("policy: Clone: parameter %s missing from the copy", p.Name)
		}
		copy(q.Data, p.Data)
	}
	copy(c.stateMean, m.stateMean)
	copy(c.stateStd, m.stateStd)
	c.SetTrain(false)
	return c, nil
}
