package agents

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sirupsen/logrus"
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
	// EvalEvery is the interval of evaluations (0: only before training and at the
	// end).
	EvalEvery int
	// SaveEvery is the interval of "last" checkpoints (0: only at evaluations and at
	// the end).
	SaveEvery int
}

// evalDue reports whether an evaluation is scheduled at step.
func (c LoopConfig) evalDue(step int) bool {
	return step == 0 || step == c.Steps || (c.EvalEvery > 0 && step%c.EvalEvery == 0)
}

// EvalReport is what an evaluation returns to the loop: the score that picks the
// best checkpoint (higher is better) and metric values to record.
type EvalReport struct {
	Score  float64
	Values map[string]float64
}

// LoopState is what the loop needs to continue exactly where a checkpoint left it;
// it is saved with every checkpoint (TrainState.Loop).
type LoopState struct {
	// Step is the update count.
	Step int `json:"step"`
	// Best is the best evaluation score so far and BestStep where it was reached
	// (−Inf and −1 before any evaluation; JSON null for −Inf).
	Best     float64 `json:"-"`
	BestStep int     `json:"best_step"`
	// Evaluated reports that the evaluation due at Step, if any, was done; a
	// checkpoint saved by an interrupted evaluation has false, and the resumed loop
	// redoes that evaluation first.
	Evaluated bool `json:"evaluated"`
	// The training metrics accumulated since the last training row, so that a
	// resumed run logs the same averages.
	LossSum  float64 `json:"loss_sum"`
	NormSum  float64 `json:"grad_norm_sum"`
	Averaged int     `json:"averaged"`
}

// NewLoopState is the state of a run that has not started.
func NewLoopState() LoopState { return LoopState{Best: math.Inf(-1), BestStep: -1} }

// LoopHooks connect the loop to the run: evaluation, checkpoints, metrics, logs.
type LoopHooks struct {
	// Evaluate runs an evaluation of the current policy (nil: none).
	Evaluate func(ctx context.Context, step int) (EvalReport, error)
	// Save writes a checkpoint of the trainer as it stands, of kind "last" or
	// "best", with the loop's state.
	Save func(kind string, st LoopState) error
	// Recorder receives the metric rows: MetricTrainLoss … every LogEvery updates,
	// MetricEvalScore … at each evaluation (nil: none).
	Recorder Recorder
	// Log receives one line per evaluation (nil: none).
	Log logrus.FieldLogger
}

// ErrInterrupted is returned (wrapped) when the context was cancelled; the loop has
// saved a "last" checkpoint by then, so the run can resume.
var ErrInterrupted = errors.New("training interrupted")

// RunLoop drives the trainer up to cfg.Steps updates, starting from st (NewLoopState
// for a new run, a checkpoint's state for a resumed one, whose trainer continues its
// count). It evaluates before the first update, every EvalEvery updates and after
// the last, saving "best" when the score improves and "last" after every
// evaluation, every SaveEvery updates and at the end.
//
// Interruption: when ctx is cancelled — between updates or during an evaluation —
// the loop saves "last" at the update count reached, with Evaluated false if the
// evaluation due there did not finish, and returns an error wrapping ErrInterrupted;
// resumed from that checkpoint, the loop redoes the evaluation and continues, so the
// run's checkpoints and metrics are those of an uninterrupted run.
func RunLoop(ctx context.Context, cfg LoopConfig, tr Stepper, hooks LoopHooks, st LoopState) (LoopState, error) {
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 100
	}
	if tr.StepCount() != st.Step {
		return st, fmt.Errorf("loop: the trainer is at update %d, the loop state at %d", tr.StepCount(), st.Step)
	}
	start := time.Now()
	record := func(step int, values map[string]float64) error {
		if hooks.Recorder == nil {
			return nil
		}
		return hooks.Recorder.Record(step, values)
	}
	save := func(kind string) error {
		if hooks.Save == nil {
			return nil
		}
		return hooks.Save(kind, st)
	}
	interrupted := func() (LoopState, error) {
		if err := save("last"); err != nil {
			return st, fmt.Errorf("%w at update %d; saving the checkpoint failed: %w", ErrInterrupted, st.Step, err)
		}
		return st, fmt.Errorf("%w at update %d (checkpoint saved; resume to continue)", ErrInterrupted, st.Step)
	}
	// evaluate runs the evaluation due at st.Step unless it was done.
	evaluate := func() error {
		if st.Evaluated || !cfg.evalDue(st.Step) || hooks.Evaluate == nil {
			st.Evaluated = true
			return nil
		}
		t0 := time.Now()
		rep, err := hooks.Evaluate(ctx, st.Step)
		if err != nil {
			return err
		}
		values := map[string]float64{MetricEvalScore: rep.Score, MetricEvalSeconds: time.Since(t0).Seconds()}
		for k, v := range rep.Values {
			values[k] = v
		}
		if err := record(st.Step, values); err != nil {
			return err
		}
		improved := rep.Score > st.Best || st.BestStep < 0
		if hooks.Log != nil {
			hooks.Log.WithFields(logrus.Fields{"step": st.Step, "score": fmt.Sprintf("%.4g", rep.Score), "best": improved}).Info("evaluation")
		}
		st.Evaluated = true
		if improved {
			st.Best, st.BestStep = rep.Score, st.Step
			if err := save("best"); err != nil {
				return err
			}
		}
		return save("last")
	}
	for {
		if err := evaluate(); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			return st, err
		}
		if st.Step >= cfg.Steps {
			break
		}
		if ctx.Err() != nil {
			return interrupted()
		}
		stats, err := tr.Step()
		if err != nil {
			return st, err
		}
		st.Step, st.Evaluated = tr.StepCount(), false
		st.LossSum += stats.Loss
		st.NormSum += stats.GradNorm
		st.Averaged++
		if st.Step%cfg.LogEvery == 0 || st.Step == cfg.Steps {
			n := float64(st.Averaged)
			row := map[string]float64{MetricTrainLoss: st.LossSum / n, MetricTrainGradNorm: st.NormSum / n,
				MetricTrainLR: stats.LR, MetricElapsed: time.Since(start).Seconds()}
			for k, v := range stats.Extra {
				row[k] = v
			}
			if err := record(st.Step, row); err != nil {
				return st, err
			}
			st.LossSum, st.NormSum, st.Averaged = 0, 0, 0
		}
		if !cfg.evalDue(st.Step) && cfg.SaveEvery > 0 && st.Step%cfg.SaveEvery == 0 {
			st.Evaluated = true
			if err := save("last"); err != nil {
				return st, err
			}
		}
	}
	if hooks.Evaluate == nil {
		return st, save("last")
	}
	return st, nil
}
