package policy

import (
	"errors"
	"fmt"
	"math"
)

// Activation names the MLP non-linearity of the transformer blocks.
const (
	ActGELU = "gelu" // GPT-2's choice (tanh approximation)
	ActReLU = "relu" // the reference gym DT's choice
)

// Head names the action head, which fixes the training loss.
const (
	// HeadCategorical: logits over N discrete actions, softmax cross-entropy.
	HeadCategorical = "categorical"
	// HeadDeterministic: tanh output scaled to the action bounds, MSE (the DT paper).
	HeadDeterministic = "deterministic"
	// HeadGaussian: tanh-squashed Gaussian, negative log-likelihood minus λ·entropy
	// (the Online Decision Transformer).
	HeadGaussian = "gaussian"
)

// ActionSpace describes the actions the policy emits. Exactly one of Discrete and
// Dim is non-zero.
type ActionSpace struct {
	// Discrete is the number of discrete actions (0 for a continuous space).
	Discrete int `json:"discrete,omitempty" yaml:"discrete,omitempty"`
	// Dim is the number of continuous action components (0 for a discrete space).
	Dim int `json:"dim,omitempty" yaml:"dim,omitempty"`
	// Low and High bound each continuous component (Dim entries each, Low < High,
	// finite): the tanh heads map (-1, 1) onto [Low, High].
	Low  []float32 `json:"low,omitempty" yaml:"low,omitempty"`
	High []float32 `json:"high,omitempty" yaml:"high,omitempty"`
}

// IsDiscrete reports whether the space is discrete.
func (a ActionSpace) IsDiscrete() bool { return a.Discrete > 0 }

// Width is the number of floats one action occupies in a batch: 1 for a discrete
// action (its index), Dim for a continuous one.
func (a ActionSpace) Width() int {
	if a.IsDiscrete() {
		return 1
	}
	return a.Dim
}

// Config describes a Decision Transformer. It is stored in every checkpoint, so a
// policy can be rebuilt from its file alone.
type Config struct {
	// StateDim is the size of a (flattened) observation.
	StateDim int `json:"state_dim" yaml:"state_dim"`
	// Action is the action space.
	Action ActionSpace `json:"action" yaml:"action"`
	// EmbedDim is the width C of every token (a multiple of Heads).
	EmbedDim int `json:"embed_dim" yaml:"embed_dim"`
	// Layers is the number of transformer blocks.
	Layers int `json:"layers" yaml:"layers"`
	// Heads is the number of attention heads per block.
	Heads int `json:"heads" yaml:"heads"`
	// Context is K, the number of timesteps the policy sees (3K tokens).
	Context int `json:"context" yaml:"context"`
	// MaxEpisodeLen sizes the timestep embedding: timesteps 0..MaxEpisodeLen-1 have
	// their own row; later timesteps share the last row.
	MaxEpisodeLen int `json:"max_episode_len" yaml:"max_episode_len"`
	// Dropout is the drop probability after embeddings, attention and MLP in training
	// mode (0 disables it), in [0, 1).
	Dropout float64 `json:"dropout" yaml:"dropout"`
	// Activation is the MLP non-linearity: "gelu" or "relu".
	Activation string `json:"activation" yaml:"activation"`
	// Head is the action head: "categorical" (discrete actions), "deterministic" or
	// "gaussian" (continuous actions).
	Head string `json:"head" yaml:"head"`
	// ReturnScale divides every return-to-go before it is embedded, so returns of a
	// family land near unit scale (the reference DT uses 1000 for MuJoCo).
	ReturnScale float64 `json:"return_scale" yaml:"return_scale"`
	// NLLBeta is β of the Gaussian head's β-NLL loss (Seitzer et al. 2022): each
	// action component's negative log-likelihood is weighted by σ^2β held fixed, so
	// the gradient on the mean does not vanish where the head has widened σ. 0 is
	// the plain likelihood of the Online Decision Transformer; 1 trains the mean as
	// a squared error whatever σ. In [0, 1]; only the Gaussian head reads it.
	NLLBeta float64 `json:"nll_beta,omitempty" yaml:"nll_beta,omitempty"`
}

// DefaultConfig returns the reference model of the benchmark and of DESIGN.md (embed
// 128, 3 layers, 4 heads, K = 20, GELU, dropout 0.1) for the given state size and
// action space. The head is categorical for a discrete space and deterministic for a
// continuous one.
func DefaultConfig(stateDim int, action ActionSpace) Config {
	head := HeadDeterministic
	if action.IsDiscrete() {
		head = HeadCategorical
	}
	return Config{
		StateDim:      stateDim,
		Action:        action,
		EmbedDim:      128,
		Layers:        3,
		Heads:         4,
		Context:       20,
		MaxEpisodeLen: 1024,
		Dropout:       0.1,
		Activation:    ActGELU,
		Head:          head,
		ReturnScale:   1,
	}
}

// Validate checks every field, returning an error that names the first bad one, and
// that the model fits in memory (Footprint against package internal/limits' limit):
// a size too large is an error naming the field, its value and the largest that fits.
func (c *Config) Validate() error {
	positive := []struct {
		name string
		v    int
	}{
		{"state_dim", c.StateDim}, {"embed_dim", c.EmbedDim}, {"layers", c.Layers},
		{"heads", c.Heads}, {"context", c.Context}, {"max_episode_len", c.MaxEpisodeLen},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("policy config: %s = %d, want > 0", p.name, p.v)
		}
	}
	if c.EmbedDim%c.Heads != 0 {
		return fmt.Errorf("policy config: embed_dim = %d is not a multiple of heads = %d", c.EmbedDim, c.Heads)
	}
	if err := c.Action.validate(); err != nil {
		return fmt.Errorf("policy config: %w", err)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return fmt.Errorf("policy config: dropout = %v, want 0 <= dropout < 1", c.Dropout)
	}
	if c.Activation != ActGELU && c.Activation != ActReLU {
		return fmt.Errorf("policy config: activation = %q, want %q or %q", c.Activation, ActGELU, ActReLU)
	}
	switch c.Head {
	case HeadCategorical:
		if !c.Action.IsDiscrete() {
			return fmt.Errorf("policy config: head = %q needs a discrete action space", c.Head)
		}
	case HeadDeterministic, HeadGaussian:
		if c.Action.IsDiscrete() {
			return fmt.Errorf("policy config: head = %q needs a continuous action space (use %q)", c.Head, HeadCategorical)
		}
	default:
		return fmt.Errorf("policy config: head = %q, want %q, %q or %q", c.Head, HeadCategorical, HeadDeterministic, HeadGaussian)
	}
	if !(c.NLLBeta >= 0 && c.NLLBeta <= 1) {
		return fmt.Errorf("policy config: nll_beta = %v, want 0 ≤ nll_beta ≤ 1", c.NLLBeta)
	}
	if c.NLLBeta != 0 && c.Head != HeadGaussian {
		return fmt.Errorf("policy config: nll_beta = %v is a setting of head %q; head is %q", c.NLLBeta, HeadGaussian, c.Head)
	}
	if !(c.ReturnScale > 0) || math.IsInf(c.ReturnScale, 0) {
		return fmt.Errorf("policy config: return_scale = %v, want a finite number > 0", c.ReturnScale)
	}
	// Last, once every size is known to be positive: the model must fit in memory.
	if err := c.checkFits(func(d Config) float64 { return d.Footprint().Model }, "the model's parameters and gradients"); err != nil {
		return fmt.Errorf("policy config: %w", err)
	}
	return nil
}

func (a ActionSpace) validate() error {
	switch {
	case a.Discrete < 0:
		return fmt.Errorf("action.discrete = %d, want >= 0", a.Discrete)
	case a.Dim < 0:
		return fmt.Errorf("action.dim = %d, want >= 0", a.Dim)
	case a.Discrete > 0 && a.Dim > 0:
		return fmt.Errorf("action: discrete = %d and dim = %d both set, want exactly one", a.Discrete, a.Dim)
	case a.Discrete == 0 && a.Dim == 0:
		return errors.New("action: neither discrete nor dim set, want exactly one")
	case a.Discrete == 1:
		return errors.New("action.discrete = 1, want at least 2 actions")
	}
	if a.IsDiscrete() {
		if len(a.Low)+len(a.High) > 0 {
			return errors.New("action: low/high given for a discrete space")
		}
		return nil
	}
	if len(a.Low) != a.Dim || len(a.High) != a.Dim {
		return fmt.Errorf("action: low has %d and high %d entries, want dim = %d each", len(a.Low), len(a.High), a.Dim)
	}
	for i := range a.Low {
		lo, hi := float64(a.Low[i]), float64(a.High[i])
		if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || !(lo < hi) {
			return fmt.Errorf("action: low[%d] = %v, high[%d] = %v, want finite with low < high", i, lo, i, hi)
		}
	}
	return nil
}

// tokensPerStep is the number of tokens a timestep contributes: return-to-go, state,
// action.
const tokensPerStep = 3
