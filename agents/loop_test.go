package agents

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// countStepper counts updates; update i has loss i.
type countStepper struct{ n int }

func (c *countStepper) Step() (StepStats, error) {
	c.n++
	return StepStats{Loss: float64(c.n), GradNorm: 1}, nil
}
func (c *countStepper) StepCount() int { return c.n }

// loopRun drives countStepper through a loop and keeps what an observer sees: the
// metric rows, the checkpoints by kind with the loop state each was saved with.
type loopRun struct {
	rows  []string
	saves map[string]LoopState
	log   []string
}

func (r *loopRun) hooks(cancelAt int, cancel func()) LoopHooks {
	return LoopHooks{
		Evaluate: func(ctx context.Context, step int) (EvalReport, error) {
			if step == cancelAt {
				cancel()
				return EvalReport{}, ctx.Err()
			}
			// Scores rise, fall at 6, rise again: best at 4 then 10.
			score := map[int]float64{0: 0, 2: 1, 4: 3, 6: 2, 8: 2.5, 10: 4}[step]
			return EvalReport{Score: score}, nil
		},
		Save: func(kind string, st LoopState) error {
			r.saves[kind] = st
			r.log = append(r.log, fmt.Sprintf("%s@%d", kind, st.Step))
			return nil
		},
		Recorder: RecorderFunc(func(step int, v map[string]float64) error {
			if s, ok := v[MetricEvalScore]; ok {
				r.rows = append(r.rows, fmt.Sprintf("%d eval %g", step, s))
			} else {
				r.rows = append(r.rows, fmt.Sprintf("%d train %g", step, v[MetricTrainLoss]))
			}
			return nil
		}),
	}
}

var loopCfg = LoopConfig{Steps: 10, LogEvery: 3, EvalEvery: 2}

// An interrupt at any evaluation or between any two updates, followed by a resume
// from "last", gives the same metric rows and the same "best" and "last" states as
// an uninterrupted run: the interrupted evaluation is redone, and the metrics
// averaged since the last training row carry over.
func TestRunLoopResumeIsExact(t *testing.T) {
	straight := &loopRun{saves: map[string]LoopState{}}
	st, err := RunLoop(context.Background(), loopCfg, &countStepper{}, straight.hooks(-1, nil), NewLoopState())
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 10 || st.Best != 4 || st.BestStep != 10 || straight.saves["best"].BestStep != 10 {
		t.Fatalf("uninterrupted run ended at %+v (best saved %+v)", st, straight.saves["best"])
	}
	// Interrupts at evaluations (steps 0, 2, …) and between updates (after update k).
	type point struct{ eval, afterUpdate int }
	var points []point
	for s := 0; s <= 10; s += 2 {
		points = append(points, point{eval: s, afterUpdate: -1})
	}
	for k := 1; k < 10; k++ {
		points = append(points, point{eval: -1, afterUpdate: k})
	}
	for _, p := range points {
		t.Run(fmt.Sprintf("eval%d_update%d", p.eval, p.afterUpdate), func(t *testing.T) {
			run := &loopRun{saves: map[string]LoopState{}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tr := &countStepper{}
			hooks := run.hooks(p.eval, cancel)
			stepper := Stepper(tr)
			if p.afterUpdate >= 0 {
				stepper = &cancelAfterUpdate{countStepper: tr, at: p.afterUpdate, cancel: cancel}
			}
			_, err := RunLoop(ctx, loopCfg, stepper, hooks, NewLoopState())
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("error %v, want ErrInterrupted", err)
			}
			last := run.saves["last"]
			// What a resumed process keeps of the metrics: rows up to the checkpoint,
			// without an evaluation row it did not finish (none was written).
			var kept []string
			for _, row := range run.rows {
				var step int
				fmt.Sscan(row, &step)
				if step <= last.Step {
					kept = append(kept, row)
				}
			}
			run.rows = kept
			resumed := &countStepper{n: last.Step}
			if _, err := RunLoop(context.Background(), loopCfg, resumed, run.hooks(-1, nil), last); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(run.rows, straight.rows) {
				t.Errorf("metric rows\n got %v\nwant %v", run.rows, straight.rows)
			}
			for _, kind := range []string{"best", "last"} {
				if g, w := run.saves[kind], straight.saves[kind]; !reflect.DeepEqual(g, w) {
					t.Errorf("%s: %+v, want %+v", kind, g, w)
				}
			}
		})
	}
}

// cancelAfterUpdate cancels the context once update at has been taken.
type cancelAfterUpdate struct {
	*countStepper
	at     int
	cancel func()
}

func (c *cancelAfterUpdate) Step() (StepStats, error) {
	st, err := c.countStepper.Step()
	if c.n == c.at {
		c.cancel()
	}
	return st, err
}

func TestRunLoopSchedule(t *testing.T) {
	run := &loopRun{saves: map[string]LoopState{}}
	if _, err := RunLoop(context.Background(), loopCfg, &countStepper{}, run.hooks(-1, nil), NewLoopState()); err != nil {
		t.Fatal(err)
	}
	want := []string{"0 eval 0", "2 eval 1", "3 train 2", "4 eval 3", "6 train 5", "6 eval 2", "8 eval 2.5", "9 train 8", "10 train 10", "10 eval 4"}
	if !reflect.DeepEqual(run.rows, want) {
		t.Errorf("rows %v\nwant %v", run.rows, want)
	}
	wantLog := []string{"best@0", "last@0", "best@2", "last@2", "best@4", "last@4", "last@6", "last@8", "best@10", "last@10"}
	if !reflect.DeepEqual(run.log, wantLog) {
		t.Errorf("saves %v\nwant %v", run.log, wantLog)
	}
}

func TestLoopStateJSON(t *testing.T) {
	for _, st := range []LoopState{NewLoopState(), {Step: 7, Best: 0.5, BestStep: 4, Evaluated: true, LossSum: 1.5, Averaged: 2}} {
		data, err := st.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got LoopState
		if err := got.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		if got != st && !(math.IsInf(got.Best, -1) && math.IsInf(st.Best, -1)) {
			t.Errorf("%s read back as %+v, want %+v", data, got, st)
		}
	}
}
