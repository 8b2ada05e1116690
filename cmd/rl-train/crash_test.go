package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/internal/runcheck"
)

// TestCrashResume kills a child rl-train finetune at random moments — kill -9, and
// the SIGTERM a scheduler sends — and resumes it with --resume until it finishes:
// the checkpoints are byte for byte those of an uninterrupted run, and so are the
// metrics and results but for wall-clock times. With adapter and model dropout on,
// every random stream has to resume exactly.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, base := pipeline(t)
	text := finetuneConfigText(dir, base, "RUNDIR") + "mode: offline\n"
	text = bytesReplace(text, "lora: {r: 2, alpha: 2, dropout: 0,", "lora: {r: 2, alpha: 2, dropout: 0.1,")
	text = bytesReplace(text, "train: {steps: 8,", "train: {steps: 40,")
	text = bytesReplace(text, "total_steps: 8,", "total_steps: 40,")
	config := func(run string) string {
		return writeFile(t, dir, run+".yaml", bytesReplace(text, "RUNDIR", filepath.Join(dir, run)))
	}
	child := func(args ...string) *exec.Cmd {
		cmd := exec.Command(self, append(args, "--log-level", "warn")...)
		cmd.Env = append(os.Environ(), actAsRLTrain+"=1")
		return cmd
	}
	start := time.Now()
	if out, err := child("finetune", "--config", config("straight"), "--method", "eva").CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	took := time.Since(start)
	rng := rand.New(rand.NewPCG(2026, 12))
	interrupted := 0
	for trial := 0; trial < 6; trial++ {
		sig := syscall.SIGKILL
		if trial%2 == 1 {
			sig = syscall.SIGTERM
		}
		run := fmt.Sprintf("trial%d", trial)
		cfg := config(run)
		// Interrupt the first attempt at a random moment of an uninterrupted run's
		// duration, then resume until a run completes (a resumed run may be killed too).
		delay := time.Duration(float64(took) * (0.05 + 0.9*rng.Float64()))
		if trial < 2 {
			delay = time.Duration(trial+1) * 3 * time.Millisecond // before any checkpoint
		}
		for attempt := 0; ; attempt++ {
			args := []string{"finetune", "--config", cfg, "--method", "eva"}
			if attempt > 0 {
				args = append(args, "--resume")
			}
			cmd := child(args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if attempt == 0 {
				select {
				case err = <-done:
				case <-time.After(delay):
					cmd.Process.Signal(sig)
					err = <-done
				}
			} else {
				err = <-done
			}
			if err == nil {
				break
			}
			if attempt > 0 {
				t.Fatalf("%s: resumed run failed: %v\n%s", run, err, out.String())
			}
			interrupted++
			_, statErr := os.Stat(filepath.Join(dir, run, "last"))
			t.Logf("%s: %v after %v (checkpoint: %v)", run, sig, delay, statErr == nil)
		}
		if err := runcheck.SameRun(filepath.Join(dir, "straight"), filepath.Join(dir, run)); err != nil {
			t.Errorf("%s (signal %v after %v): %v", run, sig, delay, err)
		}
		a, b := results(t, filepath.Join(dir, "straight")), results(t, filepath.Join(dir, run))
		if !reflect.DeepEqual(a.PerTask, b.PerTask) || a.BestStep != b.BestStep {
			t.Errorf("%s (signal %v after %v): results differ", run, sig, delay)
		}
	}
	if interrupted < 5 {
		t.Errorf("only %d of 6 runs were interrupted: the delays miss the runs", interrupted)
	}
}

func bytesReplace(s, old, new string) string {
	out := string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
	if out == s {
		panic("crash test: config text lacks " + old)
	}
	return out
}

func results(t *testing.T, dir string) *finetune.Result {
	t.Helper()
	r, err := finetune.ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
