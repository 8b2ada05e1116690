package nn

import (
	"fmt"
	"math"
)

// LAMB is the layer-wise adaptive optimizer of You et al. (2020, "Large Batch
// Optimization for Deep Learning: Training BERT in 76 minutes", ICLR), in the
// variant the Online Decision Transformer trains with (NVIDIA's NVLAMB, as in the
// FusedLAMB of apex and timm's Lamb): Adam's moments with bias correction, the
// weight decay added to the update (not decoupled as in AdamW), then the update of
// each parameter tensor rescaled by its trust ratio ‖w‖/‖update‖. At step t with
// learning rate lr, for every parameter tensor w:
//
//	m ← β₁·m + (1−β₁)·g
//	v ← β₂·v + (1−β₂)·g²
//	r = (m/(1−β₁ᵗ)) / (√v/√(1−β₂ᵗ) + ε) + λ·w      (λ·w only where Decay(w))
//	φ = ‖w‖/‖r‖  (1 when either norm is 0)          (only where Decay(w); else φ = 1)
//	w ← w − lr·φ·r
//
// Choices of the variant, as ODT's code has them: bias correction on; the trust
// ratio is not clipped (no LAMBC); parameters without weight decay take the plain
// Adam step (timm's always_adapt = false; ODT decays every parameter, so every one
// is adapted). That optimizer also divides the gradients by max(1, ‖g‖) (its
// max_grad_norm of 1) before the moments; ODT clips the global norm to 0.25 just
// before calling it, so that division never acts there, and it is left out here:
// clip with ClipGradNorm as for AdamW.
//
// The state is AdamW's — the step count and the two moments per parameter — saved
// and loaded in the same form (AdamWState). Step neither allocates nor touches
// frozen parameters.
type LAMB struct {
	adamMoments
	upd [][]float32 // the update r of each parameter, kept to take its norm
}

// NewLAMB builds the optimizer over the trainable parameters among params (those
// with a Grad buffer). Its hyperparameters are AdamW's fields: betas, eps, and the
// weight decay λ with its Decay predicate. ODT uses β 0.9/0.999, ε 1e-8, λ 5e-4 on
// every parameter.
func NewLAMB(params []*Param, cfg AdamWConfig) (*LAMB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lamb: %w", err)
	}
	o := &LAMB{adamMoments: newAdamMoments(params, cfg)}
	for _, p := range o.params {
		o.upd = append(o.upd, make([]float32, p.Size()))
	}
	return o, nil
}

// Step applies one update with learning rate lr from the gradients in each
// parameter's Grad (which it leaves as they are).
func (o *LAMB) Step(lr float64) {
	o.t++
	b1, b2 := float32(o.cfg.Beta1), float32(o.cfg.Beta2)
	c1, c2 := float32(1-o.cfg.Beta1), float32(1-o.cfg.Beta2)
	invBC1 := float32(1 / (1 - math.Pow(o.cfg.Beta1, float64(o.t))))
	invSqrtBC2 := float32(1 / math.Sqrt(1-math.Pow(o.cfg.Beta2, float64(o.t))))
	eps, wd := float32(o.cfg.Eps), float32(o.cfg.WeightDecay)
	for i, p := range o.params {
		if p.Grad == nil {
			panic("nn: LAMB: parameter " + p.Name + " was frozen after the optimizer was built")
		}
		w, g, m, v, r := p.Data, p.Grad, o.m[i], o.v[i], o.upd[i]
		var wNorm, rNorm float64
		for j := range w {
			gj := g[j]
			m[j] = b1*m[j] + c1*gj
			v[j] = b2*v[j] + c2*gj*gj
			r[j] = m[j] * invBC1 / (float32(math.Sqrt(float64(v[j])))*invSqrtBC2 + eps)
			if o.decay[i] {
				r[j] += wd * w[j]
			}
			wNorm += float64(w[j]) * float64(w[j])
			rNorm += float64(r[j]) * float64(r[j])
		}
		step := float32(lr)
		if o.decay[i] && wNorm > 0 && rNorm > 0 {
			step = float32(lr * math.Sqrt(wNorm) / math.Sqrt(rNorm))
		}
		for j := range w {
			w[j] -= step * r[j]
		}
	}
}

// LoadState copies a saved state into the optimizer, with AdamW's checks (every
// moment present with its parameter's shape, nothing else); on error the optimizer
// is left unchanged.
func (o *LAMB) LoadState(s AdamWState) error {
	if err := o.loadState(s); err != nil {
		return fmt.Errorf("lamb state: %w", err)
	}
	return nil
}

// Optimizer is what the trainers need of an optimizer: AdamW and LAMB both are one.
type Optimizer interface {
	// Step updates the parameters from their gradients with learning rate lr.
	Step(lr float64)
	// StepCount is the number of steps taken.
	StepCount() int
	// Params are the parameters it updates.
	Params() []*Param
	// State and LoadState save and restore the moments and step count.
	State() AdamWState
	LoadState(AdamWState) error
}

var (
	_ Optimizer = (*AdamW)(nil)
	_ Optimizer = (*LAMB)(nil)
)

// Optimizer kinds (OptimizerConfig.Kind).
const (
	OptimizerAdamW = "adamw"
	OptimizerLAMB  = "lamb"
)

// OptimizerConfig chooses AdamW or LAMB and holds their shared hyperparameters.
type OptimizerConfig struct {
	// Kind is OptimizerAdamW ("" means AdamW too) or OptimizerLAMB.
	Kind        string `yaml:"kind"`
	AdamWConfig `yaml:",inline"`
}

// Validate names the first bad field.
func (c OptimizerConfig) Validate() error {
	if c.Kind != "" && c.Kind != OptimizerAdamW && c.Kind != OptimizerLAMB {
		return fmt.Errorf("optimizer: kind = %q, want %q or %q", c.Kind, OptimizerAdamW, OptimizerLAMB)
	}
	return c.AdamWConfig.Validate()
}

// NewOptimizer builds the optimizer the config names over params.
func NewOptimizer(params []*Param, cfg OptimizerConfig) (Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Kind == OptimizerLAMB {
		return NewLAMB(params, cfg.AdamWConfig)
	}
	return NewAdamW(params, cfg.AdamWConfig)
}
