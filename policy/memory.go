package policy

import (
	"fmt"

	"github.com/evarl/evarl/internal/limits"
)

// Footprint is what a model of a Config allocates, estimated from the config alone
// (before allocating anything), so that a size from a file or a flag that cannot fit
// in memory is an error instead of an out-of-memory crash. The counts follow New,
// ensure (forward.go) and nn's layers; float32 throughout.
type Footprint struct {
	// Params is the number of parameters.
	Params float64
	// Model is the bytes of the built model: every parameter's values and gradient.
	Model float64
	// Optimizer is the bytes training adds per model: AdamW's two moments and the
	// second lane's gradients (parallel.go).
	Optimizer float64
	// PerWindow is the bytes of activations and backward scratch per window of a
	// batch (Context steps, 3·Context tokens); a batch of B windows needs B times it.
	PerWindow float64
}

// Training is the bytes a training step on batch windows needs: the model, the
// optimizer state and the activations.
func (f Footprint) Training(batch int) float64 {
	return f.Model + f.Optimizer + float64(batch)*f.PerWindow
}

// Footprint estimates the memory of a model built from c. Every product is taken in
// float64, so absurd sizes give huge numbers instead of overflowing.
func (c Config) Footprint() Footprint {
	C, L, H := float64(c.EmbedDim), float64(c.Layers), float64(c.Heads)
	S, T, K := float64(c.StateDim), float64(c.MaxEpisodeLen), float64(c.Context)
	A := float64(c.Action.Width())
	var actEmbed, O float64
	switch {
	case c.Action.IsDiscrete():
		actEmbed, O = float64(c.Action.Discrete)*C, float64(c.Action.Discrete)
	default:
		actEmbed, O = A*C+C, A
		if c.Head == HeadGaussian {
			O = 2 * A
		}
	}
	block := 2*2*C + 4*(C*C+C) + (4*C*C + 4*C) + (4*C*C + C) // ln1, ln2, q k v o, fc, proj
	params := T*C + 2*C + (S*C + C) + actEmbed + 2*C + L*block + 2*C + (C*O + O)
	N := 3 * K // tokens per window
	// Per window: the model's input, embedding, residual and head buffers (R = K step
	// rows, N token rows), then per block its saved activations (5 (N, C) and 2
	// (N, 4C) buffers), its attention's q, k, v, y and their gradients (8 (N, C)),
	// the attention probabilities and their gradients (2 (H, N, N), doubled with
	// dropout) and the LayerNorm statistics.
	perWindow := K*(1+S+4*A+2*O+13*C+8) + N*(8*C+8*C+1)
	attn := 2.0
	if c.Dropout > 0 {
		attn = 4
	}
	perWindow += L * (N*(13*C+8*C+4) + attn*H*N*N)
	return Footprint{Params: params, Model: 8 * params, Optimizer: 12 * params, PerWindow: 4 * perWindow}
}

// sizeFields are the Config fields that size the model, in the order a too-large
// model is blamed on them.
var sizeFields = []struct {
	name string
	get  func(*Config) *int
}{
	{"embed_dim", func(c *Config) *int { return &c.EmbedDim }},
	{"layers", func(c *Config) *int { return &c.Layers }},
	{"max_episode_len", func(c *Config) *int { return &c.MaxEpisodeLen }},
	{"state_dim", func(c *Config) *int { return &c.StateDim }},
	{"action.discrete", func(c *Config) *int { return &c.Action.Discrete }},
	{"action.dim", func(c *Config) *int { return &c.Action.Dim }},
	{"context", func(c *Config) *int { return &c.Context }},
	{"heads", func(c *Config) *int { return &c.Heads }},
}

// checkFits returns an error when need(c) exceeds the memory limit (package
// internal/limits), blaming the first size field that alone is over what fits with
// the others as they are, with its largest fitting value; or, when no single field
// is, the model as a whole.
func (c Config) checkFits(need func(Config) float64, what string) error {
	total := need(c)
	if limits.Check("model", 0, total, what) == nil {
		return nil
	}
	for _, f := range sizeFields {
		v := *f.get(&c)
		if v <= 1 {
			continue
		}
		err := limits.CheckMax(f.name, v, func(x int) float64 {
			d := c
			d.Action.Low, d.Action.High = nil, nil
			*f.get(&d) = x
			return need(d)
		}, what)
		if tl, ok := err.(*limits.TooLarge); ok && tl.Max >= 1 {
			return err
		}
	}
	return &limits.TooLarge{Field: fmt.Sprintf("embed_dim %d × layers %d × context %d (the model as a whole)", c.EmbedDim, c.Layers, c.Context),
		Value: total, Need: total, What: what}
}

// CheckBatchSize reports whether training (or running EVA, which allocates the same
// buffers) on batch windows of this config fits in memory, naming the batch size or
// the model field that does not and the largest value that would.
func (c Config) CheckBatchSize(field string, batch int) error {
	fp := c.Footprint()
	what := fmt.Sprintf("the model's parameters, gradients and optimizer state (%s) and activations (%s per window)",
		limits.Bytes(fp.Model+fp.Optimizer), limits.Bytes(fp.PerWindow))
	if err := limits.CheckMax(field, batch, func(b int) float64 { return fp.Training(b) }, what); err != nil {
		if tl, ok := err.(*limits.TooLarge); ok && tl.Max >= 1 {
			return err
		}
		// Not even one window fits: the model is too large.
		return c.checkFits(func(d Config) float64 { return d.Footprint().Training(batch) }, fmt.Sprintf("the model's parameters, gradients, optimizer state and activations of %d windows", batch))
	}
	return nil
}
