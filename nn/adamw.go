package nn

import (
	"fmt"
	"math"
	"path"
	"slices"
)

// AdamWConfig holds AdamW's hyperparameters. The learning rate is not here: it
// comes from a Schedule at every step.
type AdamWConfig struct {
	Beta1       float64 `yaml:"beta1"`        // decay of the first-moment average, in [0, 1)
	Beta2       float64 `yaml:"beta2"`        // decay of the second-moment average, in [0, 1)
	Eps         float64 `yaml:"eps"`          // added to √v̂ in the denominator, > 0
	WeightDecay float64 `yaml:"weight_decay"` // decoupled decay λ: p -= lr·λ·p each step, ≥ 0
	// Decay reports whether a parameter receives weight decay; nil decays every
	// parameter (torch.optim.AdamW on model.parameters(), as the gym DT does).
	// DecayMatrices builds minGPT's rule.
	Decay func(p *Param) bool `yaml:"-"`
}

// DefaultAdamWConfig returns the Decision Transformer's gym settings (Chen et al.
// 2021: torch.optim.AdamW with weight_decay 1e-4 on all parameters) with torch's
// default betas and eps.
func DefaultAdamWConfig() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4}
}

// Validate returns an error naming the first field out of range.
func (c AdamWConfig) Validate() error {
	switch {
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("adamw: beta1 = %v, want 0 ≤ beta1 < 1", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("adamw: beta2 = %v, want 0 ≤ beta2 < 1", c.Beta2)
	case !(c.Eps > 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("adamw: eps = %v, want a finite eps > 0", c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("adamw: weight_decay = %v, want a finite weight_decay ≥ 0", c.WeightDecay)
	}
	return nil
}

// DecayMatrices returns a Decay predicate following minGPT, which the DT
// reference's Atari code uses: weight decay on parameters of rank ≥ 2 (linear
// weights), none on rank-1 parameters (biases, LayerNorm gains and shifts), and none
// on parameters whose name matches any exclude pattern (path.Match syntax, e.g.
// "*embed*" for embedding tables, which are matrices but minGPT does not decay).
// The gym DT instead decays everything: leave Decay nil for that.
func DecayMatrices(exclude ...string) (func(p *Param) bool, error) {
	for _, pat := range exclude {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("adamw: weight-decay exclude pattern %q: %w", pat, err)
		}
	}
	pats := append([]string(nil), exclude...)
	return func(p *Param) bool {
		if len(p.Shape) < 2 {
			return false
		}
		for _, pat := range pats {
			if ok, _ := path.Match(pat, p.Name); ok {
				return false
			}
		}
		return true
	}, nil
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter 2019), step for
// step what torch.optim.AdamW computes: at step t with learning rate lr,
//
//	p ← p − lr·λ·p                     (only where Decay(p))
//	m ← β₁·m + (1−β₁)·g
//	v ← β₂·v + (1−β₂)·g²
//	p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
//
// The decay multiplies by the scheduled lr, as in torch (the paper's η_t·λ with
// η_t = lr/α). State (m, v) exists only for the parameters that were trainable when
// the optimizer was built, so frozen base weights cost nothing; Step neither
// allocates nor touches frozen parameters.
//
// The update is elementwise, so Step splits it into fixed chunks of parameters run
// across the worker goroutines; each element is computed the same way wherever it
// runs.
type AdamW struct {
	adamMoments
	chunks []adamChunk // the update's parallel pieces
	k      adamConsts  // the scalars of the step in progress, for runRange
}

// adamChunk is elements [lo, hi) of parameter p.
type adamChunk struct{ p, lo, hi int }

// adamChunkLen is the number of elements per chunk of the update.
const adamChunkLen = 1 << 14

// NewAdamW builds the optimizer over the trainable parameters among params (those
// with a Grad buffer); the others are ignored. It returns an error for an invalid
// configuration.
func NewAdamW(params []*Param, cfg AdamWConfig) (*AdamW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &AdamW{adamMoments: newAdamMoments(params, cfg)}
	for i, p := range o.params {
		for lo := 0; lo < p.Size(); lo += adamChunkLen {
			o.chunks = append(o.chunks, adamChunk{i, lo, min(lo+adamChunkLen, p.Size())})
		}
	}
	return o, nil
}

// adamMoments is what AdamW and LAMB share: the trainable parameters with their
// first and second moments, which of them decay, the step count, and the resumable
// state in AdamWState's form.
type adamMoments struct {
	cfg    AdamWConfig
	params []*Param    // trainable parameters, in the order given
	m, v   [][]float32 // first and second moments, one per param
	decay  []bool
	t      int // steps taken
}

// newAdamMoments keeps the trainable parameters among params (those with a Grad
// buffer) with zero moments.
func newAdamMoments(params []*Param, cfg AdamWConfig) adamMoments {
	o := adamMoments{cfg: cfg}
	for _, p := range params {
		if !p.Trainable() {
			continue
		}
		o.params = append(o.params, p)
		o.m = append(o.m, make([]float32, p.Size()))
		o.v = append(o.v, make([]float32, p.Size()))
		o.decay = append(o.decay, cfg.WeightDecay > 0 && (cfg.Decay == nil || cfg.Decay(p)))
	}
	return o
}

// Params returns the parameters the optimizer updates (the slice must not be
// modified).
func (o *adamMoments) Params() []*Param { return o.params }

// Decays reports whether weight decay applies to the i-th parameter of Params, so
// a trainer can log the split.
func (o *AdamW) Decays(i int) bool { return o.decay[i] }

// StepCount returns the number of steps taken, t in the update; a schedule asked
// for the next lr gets this value.
func (o *adamMoments) StepCount() int { return o.t }

// Step applies one update with learning rate lr from the gradients in each
// parameter's Grad (which it leaves as they are: the caller zeroes them).
func (o *AdamW) Step(lr float64) {
	o.t++
	// 1−β is formed in float64 before rounding, as torch does (its betas are Python
	// floats): float32(1) − float32(0.999) is off by 1.3e-5 relative.
	o.k = adamConsts{
		b1: float32(o.cfg.Beta1), b2: float32(o.cfg.Beta2),
		c1: float32(1 - o.cfg.Beta1), c2: float32(1 - o.cfg.Beta2),
		step:       float32(lr / (1 - math.Pow(o.cfg.Beta1, float64(o.t)))),
		invSqrtBC2: float32(1 / math.Sqrt(1-math.Pow(o.cfg.Beta2, float64(o.t)))),
		eps:        float32(o.cfg.Eps),
		keep:       float32(1 - lr*o.cfg.WeightDecay), // p ← keep·p where decayed
	}
	for _, p := range o.params {
		if p.Grad == nil {
			panic("nn: AdamW: parameter " + p.Name + " was frozen after the optimizer was built")
		}
	}
	if len(o.chunks) > 1 {
		parallelRange(o, len(o.chunks))
	} else {
		o.runRange(0, len(o.chunks))
	}
}

// runRange implements rangeRunner: the update of chunks [lo, hi), on the vector
// unit where there is one (bit-identical to adamWGo).
func (o *AdamW) runRange(lo, hi int) {
	for _, ch := range o.chunks[lo:hi] {
		i := ch.p
		p := o.params[i]
		w, g, m, v := p.Data[ch.lo:ch.hi], p.Grad[ch.lo:ch.hi], o.m[i][ch.lo:ch.hi], o.v[i][ch.lo:ch.hi]
		k := o.k
		if !o.decay[i] {
			k.keep = 1 // keep·w = w exactly
		}
		done := adamWVec(w, g, m, v, &k)
		adamWGo(w[done:], g[done:], m[done:], v[done:], &k)
	}
}

// adamWGo is the plain-Go loop of the update (the vector kernel's twin). The
// conversions round every product, so that no compiler fuses a multiply-add
// (GOAMD64=v3 may) and the two stay bit-identical.
func adamWGo(w, g, m, v []float32, k *adamConsts) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j := range w {
		gj := g[j]
		m[j] = float32(k.b1*m[j]) + float32(k.c1*gj)
		v[j] = float32(k.b2*v[j]) + float32(float32(k.c2*gj)*gj)
		d := float32(float32(math.Sqrt(float64(v[j])))*k.invSqrtBC2) + k.eps
		w[j] = float32(k.keep*w[j]) - float32(k.step*m[j])/d
	}
}

// AdamWState is the optimizer's resumable state in a form checkpoint code can
// serialise: the step count and, per trainable parameter in order, the first and
// second moments as named tensors "<name>.exp_avg" and "<name>.exp_avg_sq" (torch's
// names for them) with the parameter's shape.
type AdamWState struct {
	Step    int
	Tensors []*Param // Grad is nil: these are data, not trainable parameters
}

// State returns the current state. The tensors alias the optimizer's buffers, so
// they are valid until the next Step; serialise them before stepping again.
func (o *adamMoments) State() AdamWState {
	s := AdamWState{Step: o.t, Tensors: make([]*Param, 0, 2*len(o.params))}
	for i, p := range o.params {
		s.Tensors = append(s.Tensors,
			&Param{Name: p.Name + ".exp_avg", Shape: append([]int(nil), p.Shape...), Data: o.m[i]},
			&Param{Name: p.Name + ".exp_avg_sq", Shape: append([]int(nil), p.Shape...), Data: o.v[i]})
	}
	return s
}

// LoadState copies a saved state into the optimizer, so a resumed run continues
// exactly. Every trainable parameter's two moments must be present with its shape,
// and nothing else: a missing, extra or misshapen tensor is an error naming it (it
// means the set of trainable parameters changed since the save). On error the
// optimizer is left unchanged.
func (o *AdamW) LoadState(s AdamWState) error {
	if err := o.loadState(s); err != nil {
		return fmt.Errorf("adamw state: %w", err)
	}
	return nil
}

// loadState is LoadState without the optimizer's name in the error.
func (o *adamMoments) loadState(s AdamWState) error {
	src, err := matchMoments(s, o.State())
	if err != nil {
		return err
	}
	for i, w := range o.State().Tensors {
		copy(w.Data, src[i].Data)
	}
	o.t = s.Step
	return nil
}

// matchMoments checks a saved state against the tensors an optimizer holds (want)
// and returns the saved tensor for each of them, in want's order.
func matchMoments(s, want AdamWState) ([]*Param, error) {
	if s.Step < 0 {
		return nil, fmt.Errorf("step %d, want ≥ 0", s.Step)
	}
	byName := make(map[string]*Param, len(s.Tensors))
	for _, t := range s.Tensors {
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("tensor %q appears twice", t.Name)
		}
		byName[t.Name] = t
	}
	src := make([]*Param, len(want.Tensors))
	for i, w := range want.Tensors {
		got, ok := byName[w.Name]
		if !ok {
			return nil, fmt.Errorf("missing tensor %q", w.Name)
		}
		if !slices.Equal(got.Shape, w.Shape) || len(got.Data) != len(w.Data) {
			return nil, fmt.Errorf("tensor %q has shape %v (%d values), want %v", w.Name, got.Shape, len(got.Data), w.Shape)
		}
		src[i] = got
		delete(byName, w.Name)
	}
	for _, t := range s.Tensors { // in the given order, so the error is deterministic
		if _, extra := byName[t.Name]; extra {
			return nil, fmt.Errorf("unexpected tensor %q (not a trainable parameter's moment)", t.Name)
		}
	}
	return src, nil
}
