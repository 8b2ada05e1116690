package eva

import (
	"fmt"
	"math"
)

// SVD methods of Config.SVD.
const (
	SVDFull    = "full"
	SVDLowRank = "lowrank"
)

// Config holds EVA's settings (PEFT's EvaConfig, plus a cap on minibatches that PEFT
// lacks: there a layer that never converges loops forever).
type Config struct {
	// Rho ≥ 1 bounds redistribution: a layer of nominal rank r computes round(r·Rho)
	// components and may end with any rank in [0, round(r·Rho)]. 1 keeps every rank.
	Rho float64 `yaml:"rho" json:"rho"`
	// Tau in [0,1] is the cosine similarity between successive estimates of a
	// component above which that component counts as converged.
	Tau float64 `yaml:"tau" json:"tau"`
	// Whiten divides each lora_A row by the square root of its singular value.
	Whiten bool `yaml:"whiten" json:"whiten"`
	// AdjustScalingFactors rescales alpha with the rank (alpha' = alpha·r'/r) so that a
	// layer's LoRA scale stays what the nominal rank gave it.
	AdjustScalingFactors bool `yaml:"adjust_scaling_factors" json:"adjust_scaling_factors"`
	// MaxBatches caps the minibatches the pass consumes (skipped ones included).
	MaxBatches int `yaml:"max_batches" json:"max_batches"`
	// SVD is "full" (LAPACK dgesvd of each stacked minibatch) or "lowrank" (the
	// randomized SVD PEFT uses: 2·n_components columns, 4 subspace iterations;
	// faster on wide inputs).
	SVD string `yaml:"svd" json:"svd"`
	// AcceptUnconverged makes hitting MaxBatches a warning instead of an error: the
	// components reached so far are used.
	AcceptUnconverged bool `yaml:"accept_unconverged" json:"accept_unconverged"`
}

// DefaultConfig returns PEFT's EvaConfig defaults (rho 2, tau 0.99, no whitening,
// adjusted scaling factors), a cap of 500 minibatches and the full SVD.
func DefaultConfig() Config {
	return Config{Rho: 2, Tau: 0.99, AdjustScalingFactors: true, MaxBatches: 500, SVD: SVDFull}
}

// Validate reports the first invalid field, naming it and the value expected.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.Rho) || c.Rho < 1:
		return fmt.Errorf("eva config: rho = %v: want ≥ 1", c.Rho)
	case math.IsInf(c.Rho, 0):
		return fmt.Errorf("eva config: rho = %v: want a finite value ≥ 1", c.Rho)
	case math.IsNaN(c.Tau) || c.Tau < 0 || c.Tau > 1:
		return fmt.Errorf("eva config: tau = %v: want a value in [0, 1]", c.Tau)
	case c.MaxBatches < 1:
		return fmt.Errorf("eva config: max_batches = %d: want ≥ 1", c.MaxBatches)
	case c.SVD != SVDFull && c.SVD != SVDLowRank:
		return fmt.Errorf("eva config: svd = %q: want %q or %q", c.SVD, SVDFull, SVDLowRank)
	}
	return nil
}

// MaxComponents is the number of components a layer of nominal rank r computes,
// round(r·rho) with halves rounded to even as Python's round does.
func (c Config) MaxComponents(r int) int {
	return int(math.RoundToEven(float64(r) * c.Rho))
}
