//go:build pixel

package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/evarl/evarl/envs"
)

// TestWatchLive opens a window and plays an untrained policy acting live for one
// episode (run under xvfb-run in CI). OpenGL needs the main goroutine, which a test
// does not run on, so the test binary runs itself as rl-train (TestMain).
func TestWatchLive(t *testing.T) {
	if os.Getenv("DISPLAY") == "" {
		t.Skip("no display (run under xvfb-run -a)")
	}
	tasks, err := envs.ResolveTasks("pipetest/heldout-00")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := tinyPolicy(t, tasks[0])
	cmd := exec.Command(os.Args[0], "watch", "--checkpoint", dir, "--task", "pipetest/heldout-00", "--fps", "1000", "--scale", "0.5", "--live-episodes", "2")
	cmd.Env = append(os.Environ(), actAsRLTrain+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("watch: %v\n%s", err, out)
	}
}
