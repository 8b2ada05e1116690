package nn

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate for each optimizer step. step counts from 0: LR(0)
// is the rate of the first update, so pass AdamW.StepCount() before calling Step.
type Schedule interface {
	LR(step int) float64
}

// Schedule kinds accepted by ScheduleConfig.Kind.
const (
	ScheduleConstant = "constant" // linear warm-up, then constant (the DT reference)
	ScheduleCosine   = "cosine"   // linear warm-up, then cosine decay to a floor
)

// ScheduleConfig selects and parameterises a schedule, in the form a YAML config
// holds it.
type ScheduleConfig struct {
	Kind        string  `yaml:"kind"`         // "constant" or "cosine"
	LR          float64 `yaml:"lr"`           // peak learning rate, reached at the end of warm-up, > 0
	WarmupSteps int     `yaml:"warmup_steps"` // length of the linear warm-up, ≥ 0 (0: none)
	TotalSteps  int     `yaml:"total_steps"`  // cosine only: the step at which decay reaches MinLR, > WarmupSteps
	MinLR       float64 `yaml:"min_lr"`       // cosine only: the floor, 0 ≤ MinLR ≤ LR
}

// DefaultScheduleConfig returns the gym Decision Transformer's schedule: lr 1e-4,
// linear warm-up over 10 000 steps, then constant.
func DefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{Kind: ScheduleConstant, LR: 1e-4, WarmupSteps: 10000}
}

// NewSchedule validates cfg and builds its schedule; an error names the field.
func NewSchedule(cfg ScheduleConfig) (Schedule, error) {
	if !(cfg.LR > 0) || math.IsInf(cfg.LR, 0) {
		return nil, fmt.Errorf("schedule: lr = %v, want a finite lr > 0", cfg.LR)
	}
	if cfg.WarmupSteps < 0 {
		return nil, fmt.Errorf("schedule: warmup_steps = %d, want ≥ 0", cfg.WarmupSteps)
	}
	switch cfg.Kind {
	case ScheduleConstant:
		return WarmupConstant{Peak: cfg.LR, Warmup: cfg.WarmupSteps}, nil
	case ScheduleCosine:
		if cfg.TotalSteps <= cfg.WarmupSteps {
			return nil, fmt.Errorf("schedule: total_steps = %d, want > warmup_steps (%d) for %q", cfg.TotalSteps, cfg.WarmupSteps, cfg.Kind)
		}
		if !(cfg.MinLR >= 0 && cfg.MinLR <= cfg.LR) {
			return nil, fmt.Errorf("schedule: min_lr = %v, want 0 ≤ min_lr ≤ lr (%v)", cfg.MinLR, cfg.LR)
		}
		return WarmupCosine{Peak: cfg.LR, Floor: cfg.MinLR, Warmup: cfg.WarmupSteps, Total: cfg.TotalSteps}, nil
	default:
		return nil, fmt.Errorf("schedule: kind = %q, want %q or %q", cfg.Kind, ScheduleConstant, ScheduleCosine)
	}
}

// warmup is the DT reference's warm-up factor, min((step+1)/warmup, 1)
// (torch LambdaLR evaluated before each update), so the first update already has
// a non-zero rate and step warmup−1 reaches the peak.
func warmup(step, n int) float64 {
	if step+1 >= n {
		return 1
	}
	return float64(step+1) / float64(n)
}

// WarmupConstant rises linearly from Peak/Warmup at step 0 to Peak at step
// Warmup−1 and stays there: the Decision Transformer's schedule.
type WarmupConstant struct {
	Peak   float64 // learning rate after warm-up
	Warmup int     // warm-up length in steps (0: constant from the start)
}

// LR implements Schedule.
func (s WarmupConstant) LR(step int) float64 { return s.Peak * warmup(step, s.Warmup) }

// WarmupCosine warms up as WarmupConstant, then follows half a cosine from Peak at
// step Warmup down to Floor at step Total, and stays at Floor after:
//
//	lr = Floor + ½(Peak − Floor)(1 + cos(π·(step − Warmup)/(Total − Warmup)))
type WarmupCosine struct {
	Peak, Floor   float64
	Warmup, Total int // Total > Warmup
}

// LR implements Schedule.
func (s WarmupCosine) LR(step int) float64 {
	if step < s.Warmup {
		return s.Peak * warmup(step, s.Warmup)
	}
	if step >= s.Total {
		return s.Floor
	}
	frac := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	return s.Floor + 0.5*(s.Peak-s.Floor)*(1+math.Cos(math.Pi*frac))
}
