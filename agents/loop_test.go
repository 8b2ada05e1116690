package agents

import (
	"context"
	"errors"
	"testing"
)

// countStepper counts updates.
type countStepper struct{ n int }

func (c *countStepper) Step() (StepStats, error) { c.n++; return StepStats{Loss: 1}, nil }
func (c *countStepper) StepCount() int           { return c.n }

// An interrupt during an evaluation, as during training, saves "last" at the step
// reached and returns ErrInterrupted.
func TestRunLoopInterruptedDuringEvaluation(t *testing.T) {
	for _, at := range []int{0, 4} {
		ctx, cancel := context.WithCancel(context.Background())
		tr := &countStepper{}
		var saved []string
		savedStep := -1
		hooks := LoopHooks{
			Evaluate: func(ctx context.Context, step int) (EvalReport, error) {
				if step == at {
					cancel()
					return EvalReport{}, ctx.Err()
				}
				return EvalReport{Score: float64(step)}, nil
			},
			Save: func(kind string, step int, _ float64) error {
				saved = append(saved, kind)
				if kind == "last" {
					savedStep = step
				}
				return nil
			},
		}
		_, err := RunLoop(ctx, LoopConfig{Steps: 10, LogEvery: 1, EvalEvery: 2}, tr, hooks, -1)
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("interrupt at evaluation of step %d: error %v, want ErrInterrupted", at, err)
		}
		if savedStep != at || tr.n != at {
			t.Errorf("interrupt at step %d: saved last at %d after %d updates (saves %v)", at, savedStep, tr.n, saved)
		}
		cancel()
	}
}

func TestRunLoopRunsToTheEnd(t *testing.T) {
	tr := &countStepper{}
	var evals []int
	hooks := LoopHooks{Evaluate: func(_ context.Context, step int) (EvalReport, error) {
		evals = append(evals, step)
		return EvalReport{Score: float64(step)}, nil
	}}
	if _, err := RunLoop(context.Background(), LoopConfig{Steps: 6, EvalEvery: 2}, tr, hooks, -1); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 2, 4, 6}; tr.n != 6 || len(evals) != len(want) || evals[1] != 2 || evals[3] != 6 {
		t.Errorf("updates %d, evaluations at %v; want 6 and %v", tr.n, evals, want)
	}
}
