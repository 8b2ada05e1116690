package eva

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// SVD methods of Config.SVD (incremental PCA only).
const (
	SVDFull    = "full"
	SVDLowRank = "lowrank"
)

// PCA methods of Config.PCA.
const (
	// PCAExact accumulates each layer's d×d scatter matrix in float64 and takes its
	// leading eigenvectors after every minibatch (ExactPCA): the batch PCA of all
	// rows seen so far, to rounding.
	PCAExact = "exact"
	// PCAIncremental is scikit-learn's IncrementalPCA as PEFT runs it (IPCA): only
	// round(r·rho) directions are kept between minibatches, so it drifts from the
	// batch PCA.
	PCAIncremental = "incremental"
)

// Row selections of Config.LabelMask: which real rows of a layer's input enter its
// PCA. See the package documentation for what they mean per layer of a Decision
// Transformer.
const (
	// LabelMaskNone keeps every real (non-padding) token: PEFT's use_label_mask = false.
	LabelMaskNone = "none"
	// LabelMaskLossTokens keeps, in every layer, the rows at the tokens where the
	// loss is read (a DT's state tokens): PEFT's use_label_mask = true, which keeps
	// the positions whose label is not label_mask_value.
	LabelMaskLossTokens = "loss_tokens"
	// LabelMaskLossPaths keeps the rows whose outputs reach the loss: the state
	// tokens where a layer's output at a position only feeds that position's
	// prediction, and every token a later state token attends to elsewhere.
	LabelMaskLossPaths = "loss_paths"
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
	// PCA is the streaming PCA: "exact" (the float64 scatter matrix and its leading
	// eigenvectors: equal to a batch PCA of all rows seen) or "incremental"
	// (PEFT's incremental PCA, kept for fidelity to the reference implementation).
	PCA string `yaml:"pca" json:"pca"`
	// SVD is the incremental PCA's SVD: "full" (LAPACK dgesvd of each stacked
	// minibatch) or "lowrank" (the randomized SVD PEFT uses: 2·n_components
	// columns, 4 subspace iterations; faster on wide inputs).
	SVD string `yaml:"svd" json:"svd"`
	// LabelMask selects the rows that enter the PCA (PEFT's use_label_mask): "none"
	// (every real token), "loss_tokens" (in every layer the tokens where the loss is
	// read, PEFT's use_label_mask = true) or "loss_paths" (the rows whose outputs
	// reach the loss). The last two need a model that reports its loss rows
	// (LossRower; policy.Model does).
	LabelMask string `yaml:"label_mask" json:"label_mask"`
	// AcceptUnconverged makes hitting MaxBatches a warning instead of an error: the
	// components reached so far are used.
	AcceptUnconverged bool `yaml:"accept_unconverged" json:"accept_unconverged"`
}

// DefaultConfig returns PEFT's EvaConfig defaults (rho 2, tau 0.99, no whitening,
// adjusted scaling factors), a cap of 500 minibatches, the exact PCA and every real
// token's row.
func DefaultConfig() Config {
	return Config{Rho: 2, Tau: 0.99, AdjustScalingFactors: true, MaxBatches: 500, PCA: PCAExact, SVD: SVDFull, LabelMask: LabelMaskNone}
}

// UnmarshalJSON reads a config saved in an EVA state file, strictly (an unknown key
// is an error). Files written before the pca and label_mask keys existed were
// computed with the incremental PCA on every real token, so that is what missing
// keys mean here (not the current defaults).
func (c *Config) UnmarshalJSON(data []byte) error {
	type plain Config // without this method
	p := plain{PCA: PCAIncremental, SVD: SVDFull, LabelMask: LabelMaskNone}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
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
	case c.PCA != PCAExact && c.PCA != PCAIncremental:
		return fmt.Errorf("eva config: pca = %q: want %q or %q", c.PCA, PCAExact, PCAIncremental)
	case c.SVD != SVDFull && c.SVD != SVDLowRank:
		return fmt.Errorf("eva config: svd = %q: want %q or %q", c.SVD, SVDFull, SVDLowRank)
	case c.SVD == SVDLowRank && c.PCA != PCAIncremental:
		return fmt.Errorf("eva config: svd = %q applies to pca = %q only (pca is %q, which needs no SVD)", c.SVD, PCAIncremental, c.PCA)
	case c.LabelMask != LabelMaskNone && c.LabelMask != LabelMaskLossTokens && c.LabelMask != LabelMaskLossPaths:
		return fmt.Errorf("eva config: label_mask = %q: want %q, %q or %q", c.LabelMask, LabelMaskNone, LabelMaskLossTokens, LabelMaskLossPaths)
	}
	return nil
}

// MaxComponents is the number of components a layer of nominal rank r computes,
// round(r·rho) with halves rounded to even as Python's round does.
func (c Config) MaxComponents(r int) int {
	return int(math.RoundToEven(float64(r) * c.Rho))
}
