package agents

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/internal/progress"
)

// Stepper is a trainer the loop can drive: Offline, or the online trainer.
type Stepper interface {
	// Step takes one update.
	Step() (StepStats, error)
	// StepCount is the number of updates taken so far (including before a resume).
	StepCount() int
}

// LoopConfig says how often the loop logs, evaluates and saves.
type LoopConfig struct {
	// Steps is the update count at which the loop stops.
	Steps int
	// LogEvery is the interval, in updates, of training-metric rows.
	LogEvery int
	// EvalEvery is the interval of evaluations (0: only at the end).
	EvalEvery int
	// SaveEvery is the interval of "last" checkpoints (0: only at evaluations and at
	// the end).
	SaveEvery int
}

// EvalReport is what an evaluation returns to the loop: the score that picks the
// best checkpoint (higher is better) and metric values to log.
type EvalReport struct {
	Score  float64
	Values map[string]float64
}

// LoopHooks connect the loop to the run: evaluation, checkpoints, metrics, progress.
type LoopHooks struct {
	// Evaluate runs an evaluation of the current policy (nil: none).
	Evaluate func(ctx context.Context, step int) (EvalReport, error)
	// Save writes a checkpoint: kind "last" or "best", with the best score so far.
	Save func(kind string, step int, best float64) error
	// Metrics receives rows: train/loss, train/grad_norm, train/lr, time/…, eval/….
	Metrics *metrics.Logger
	// Progress shows the updates (nil: none).
	Progress progress.Reporter
	// Log receives one line per evaluation.
	Log logrus.FieldLogger
}

// ErrInterrupted is returned (wrapped) when the context was cancelled; the loop has
// saved a "last" checkpoint by then, so the run can resume.
var ErrInterrupted = errors.New("training interrupted")

// RunLoop drives the trainer up to cfg.Steps updates, starting wherever it stands
// (a resumed trainer continues its count). best is the best score of the run so far
// (−Inf for a new run). On cancellation it saves a "last" checkpoint and returns an
// error wrapping ErrInterrupted.
func RunLoop(ctx context.Context, cfg LoopConfig, tr Stepper, hooks LoopHooks, best float64) (float64, error) {
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 100
	}
	start := time.Now()
	var loss, norm float64
	var n int
	evaluate := func(step int) error {
		if hooks.Evaluate == nil {
			return nil
		}
		t0 := time.Now()
		rep, err := hooks.Evaluate(ctx, step)
		if err != nil {
			return err
		}
		values := map[string]float64{"eval/score": rep.Score, "time/eval_s": time.Since(t0).Seconds()}
		for k, v := range rep.Values {
			values[k] = v
		}
		if hooks.Metrics != nil {
			if err := hooks.Metrics.Log(step, values); err != nil {
				return err
			}
		}
		improved := rep.Score > best || math.IsInf(best, -1)
		if hooks.Log != nil {
			hooks.Log.WithFields(logrus.Fields{"step": step, "score": fmt.Sprintf("%.4g", rep.Score), "best": improved}).Info("evaluation")
		}
		if improved {
			best = rep.Score
			if hooks.Save != nil {
				if err := hooks.Save("best", step, best); err != nil {
					return err
				}
			}
		}
		return nil
	}
	save := func(step int) error {
		if hooks.Save == nil {
			return nil
		}
		return hooks.Save("last", step, best)
	}
	// interrupted saves "last" after a cancellation, which may have come in the middle
	// of an evaluation: the trainer itself is always between two updates here.
	interrupted := func() (float64, error) {
		if err := save(tr.StepCount()); err != nil {
			return best, fmt.Errorf("%w at step %d; saving the checkpoint failed: %w", ErrInterrupted, tr.StepCount(), err)
		}
		return best, fmt.Errorf("%w at step %d (checkpoint saved; resume to continue)", ErrInterrupted, tr.StepCount())
	}
	if tr.StepCount() == 0 && hooks.Evaluate != nil {
		if err := evaluate(0); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			return best, err
		}
	}
	for tr.StepCount() < cfg.Steps {
		if ctx.Err() != nil {
			return interrupted()
		}
		st, err := tr.Step()
		if err != nil {
			return best, err
		}
		step := tr.StepCount()
		loss += st.Loss
		norm += st.GradNorm
		n++
		if step%cfg.LogEvery == 0 || step == cfg.Steps {
			row := map[string]float64{"train/loss": loss / float64(n), "train/grad_norm": norm / float64(n),
				"train/lr": st.LR, "time/elapsed_s": time.Since(start).Seconds()}
			if hooks.Metrics != nil {
				if err := hooks.Metrics.Log(step, row); err != nil {
					return best, err
				}
			}
			if hooks.Progress != nil {
				hooks.Progress.Add(0, logrus.Fields{"step": step, "loss": fmt.Sprintf("%.4g", loss/float64(n))})
			}
			loss, norm, n = 0, 0, 0
		}
		if hooks.Progress != nil {
			hooks.Progress.Add(1, nil)
		}
		if cfg.EvalEvery > 0 && step%cfg.EvalEvery == 0 && step != cfg.Steps {
			if err := evaluate(step); err != nil {
				if ctx.Err() != nil {
					return interrupted()
				}
				return best, err
			}
			if err := save(step); err != nil {
				return best, err
			}
		} else if cfg.SaveEvery > 0 && step%cfg.SaveEvery == 0 {
			if err := save(step); err != nil {
				return best, err
			}
		}
	}
	if err := evaluate(tr.StepCount()); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return best, err
	}
	if hooks.Progress != nil {
		hooks.Progress.Finish()
	}
	return best, save(tr.StepCount())
}
