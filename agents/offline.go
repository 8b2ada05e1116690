package agents

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// TrainConfig holds the optimisation settings shared by pretraining and offline
// fine-tuning. Defaults follow the reference gym Decision Transformer (Chen et al.
// 2021): AdamW lr 1e-4, weight decay 1e-4, linear warm-up, batch 64, clip 0.25.
type TrainConfig struct {
	// Steps is the number of gradient updates.
	Steps int `yaml:"steps"`
	// BatchSize is the number of context windows per update.
	BatchSize int `yaml:"batch_size"`
	// Optimizer configures the optimizer: AdamW (the default kind) or LAMB, with
	// AdamW's fields.
	Optimizer nn.OptimizerConfig `yaml:"optimizer"`
	// Schedule configures the learning rate over the updates.
	Schedule nn.ScheduleConfig `yaml:"schedule"`
	// ClipNorm is the maximum global gradient norm (0 disables clipping).
	ClipNorm float64 `yaml:"clip_norm"`
}

// DefaultTrainConfig returns the reference DT's optimisation settings for the given
// number of updates (warm-up is a tenth of them, at most 10,000 as in the reference).
func DefaultTrainConfig(steps int) TrainConfig {
	sched := nn.DefaultScheduleConfig()
	sched.LR = 1e-4
	sched.WarmupSteps = min(10000, steps/10)
	sched.TotalSteps = steps
	opt := nn.DefaultAdamWConfig()
	opt.WeightDecay = 1e-4
	return TrainConfig{Steps: steps, BatchSize: 64, Optimizer: nn.OptimizerConfig{Kind: nn.OptimizerAdamW, AdamWConfig: opt}, Schedule: sched, ClipNorm: 0.25}
}

// WithSteps returns the config shortened or lengthened to n updates (a smoke test's
// budget, or a resumed run's new end): the schedule's horizon is capped at n, so a
// short run still decays, and warm-up at half of it.
func (c TrainConfig) WithSteps(n int) TrainConfig {
	c.Steps = n
	c.Schedule.TotalSteps = min(c.Schedule.TotalSteps, n)
	c.Schedule.WarmupSteps = min(c.Schedule.WarmupSteps, n/2)
	return c
}

// Validate names the first bad field.
func (c TrainConfig) Validate() error {
	switch {
	case c.Steps <= 0:
		return fmt.Errorf("train: steps = %d, want > 0", c.Steps)
	case c.BatchSize <= 0:
		return fmt.Errorf("train: batch_size = %d, want > 0", c.BatchSize)
	case !(c.ClipNorm >= 0) || math.IsInf(c.ClipNorm, 0):
		return fmt.Errorf("train: clip_norm = %v, want a finite number ≥ 0", c.ClipNorm)
	}
	if err := c.Optimizer.Validate(); err != nil {
		return fmt.Errorf("train: optimizer: %w", err)
	}
	if _, err := nn.NewSchedule(c.Schedule); err != nil {
		return fmt.Errorf("train: schedule: %w", err)
	}
	return nil
}

// WindowSource yields training windows: a dataset's sampler or an online replay
// buffer (replay.Sampler and replay.Buffer both are one).
type WindowSource interface {
	Sample(rng *rand.Rand, b *replay.Batch) error
}

// StepStats is what one update reports.
type StepStats struct {
	Loss     float64 // the head's loss on the batch
	GradNorm float64 // global gradient norm before clipping
	LR       float64 // learning rate used
	// Extra holds trainer-specific metrics of the update (online: the temperature,
	// the exploration returns of the iteration it started, …), recorded with the
	// next training row; nil for none.
	Extra map[string]float64
}

// Offline trains a Decision Transformer by return-conditioned supervised learning:
// each update draws a batch of context windows, computes the action head's loss
// (cross-entropy, MSE or Gaussian NLL) and takes an AdamW step on the trainable
// parameters — all of them for pretraining and full fine-tuning, only the adapters
// for LoRA methods.
type Offline struct {
	model  *policy.Model
	source WindowSource
	opt    nn.Optimizer
	sched  nn.Schedule
	clip   float64
	rng    *rand.Rand
	batch  *policy.Batch // raw windows as the source writes them and the model reads them
	step   int
}

// NewOffline prepares training on windows from source. params are the parameters
// to train — nil means the model's trainable ones; for LoRA methods, the adapters'
// (lora.Model.Params). rng drives the window sampling (the model's own rng drives
// dropout); pass the same seeded source to both for a run reproducible from one seed.
// A batch size that cannot fit in memory with this model (policy.Config.CheckBatchSize)
// is an error naming batch_size and the largest that fits.
func NewOffline(model *policy.Model, params []*nn.Param, source WindowSource, cfg TrainConfig, rng *rand.Rand) (*Offline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mc := model.Config()
	if err := mc.CheckBatchSize("batch_size", cfg.BatchSize); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	trainable, err := trainableParams(model, params)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	opt, err := nn.NewOptimizer(trainable, cfg.Optimizer)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	sched, err := nn.NewSchedule(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &Offline{model: model, source: source, opt: opt, sched: sched, clip: cfg.ClipNorm,
		rng: rng, batch: policy.NewBatch(model.Config(), cfg.BatchSize)}, nil
}

// trainableParams resolves the parameters a trainer updates: params, or the model's
// trainable ones when nil. Every one must be trainable (have a gradient buffer).
func trainableParams(model *policy.Model, params []*nn.Param) ([]*nn.Param, error) {
	if params == nil {
		params = model.Params().Trainable()
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("no trainable parameters")
	}
	for _, p := range params {
		if !p.Trainable() {
			return nil, fmt.Errorf("parameter %s is frozen", p.Name)
		}
	}
	return params, nil
}

// Step takes one update and returns its statistics.
func (o *Offline) Step() (StepStats, error) {
	if err := o.source.Sample(o.rng, o.batch); err != nil {
		return StepStats{}, fmt.Errorf("train step %d: %w", o.step, err)
	}
	o.model.SetTrain(true)
	if err := o.model.Forward(o.batch); err != nil {
		return StepStats{}, fmt.Errorf("train step %d: %w", o.step, err)
	}
	loss := o.model.Loss(o.batch, 0)
	if math.IsNaN(float64(loss.Loss)) || math.IsInf(float64(loss.Loss), 0) {
		return StepStats{}, fmt.Errorf("train step %d: loss is %v (learning rate too high, or bad data?)", o.step, loss.Loss)
	}
	norm, lr := applyGradients(o.model, o.opt, o.sched, o.clip, o.step)
	o.step++
	return StepStats{Loss: float64(loss.Loss), GradNorm: norm, LR: lr}, nil
}

// applyGradients takes the update for the loss last computed on model: it zeroes
// the gradients of the optimizer's parameters (the trained ones: all weights, or
// only the adapters), backpropagates, clips the global norm to clip (0: no clipping)
// and steps AdamW at the schedule's rate for update step. It returns the norm
// before clipping and the rate.
func applyGradients(model *policy.Model, opt nn.Optimizer, sched nn.Schedule, clip float64, step int) (norm, lr float64) {
	for _, p := range opt.Params() {
		p.ZeroGrad()
	}
	model.Backward()
	if clip > 0 {
		norm = nn.ClipGradNorm(opt.Params(), clip)
	}
	lr = sched.LR(step)
	opt.Step(lr)
	return norm, lr
}

// StepCount is the number of updates taken (including those before a resume).
func (o *Offline) StepCount() int { return o.step }

// Model is the model being trained.
func (o *Offline) Model() *policy.Model { return o.model }

// Optimizer is the optimizer (AdamW or LAMB), for saving its state.
func (o *Offline) Optimizer() nn.Optimizer { return o.opt }

// Restore sets the update count and optimizer state of a resumed run.
func (o *Offline) Restore(step int, opt nn.AdamWState) error {
	if err := o.opt.LoadState(opt); err != nil {
		return err
	}
	o.step = step
	return nil
}
