package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/agents"
)

// actAsRLTrain makes the test binary behave as rl-train when this variable is set, so
// that scripts can be tested against it without building the command.
const actAsRLTrain = "EVARL_TEST_ACT_AS_RL_TRAIN"

func TestMain(m *testing.M) {
	if os.Getenv(actAsRLTrain) == "1" {
		if err := run(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "rl-train:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// scripts/eval_table.sh evaluates a checkpoint and the checkpoint with an adapter and
// merges them into one table: a row per policy, with the numbers of each results.json.
func TestEvalTableScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ckpt := tinyGridPolicy(t, 8)
	adapter := perturbedAdapter(t, ckpt)
	dir := t.TempDir()
	work, table := filepath.Join(dir, "work"), filepath.Join(dir, "table.md")
	cmd := exec.Command(bash, filepath.Join("..", "..", "scripts", "eval_table.sh"), "-t", "gridworld/heldout-05,gridworld/heldout-07",
		"-r", "1", "-n", "2", "-o", table, "-w", work, ckpt, ckpt+":"+adapter, "--", "--ref-episodes", "1", "--blas", "gonum")
	cmd.Env = append(os.Environ(), "RL_TRAIN="+self, actAsRLTrain+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("eval_table.sh: %v\n%s", err, out)
	}
	md, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(md)), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want header, rule and 2 rows:\n%s", len(lines), md)
	}
	for i, label := range []string{ckpt, ckpt + " + " + adapter} {
		rep := readReport(t, filepath.Join(work, fmt.Sprintf("%02d", i), agents.EvaluationJSON))
		s := rep.Summary[0]
		cells := strings.Split(strings.Trim(lines[2+i], "|"), "|")
		if s.MeanNormalized == nil {
			t.Fatalf("%s: no normalised score", label)
		}
		if strings.TrimSpace(cells[0]) != label || rep.Label != label || s.Episodes != 4 ||
			math.Abs(parseNum(t, cells[4])-*s.MeanNormalized) > 0.05 || !near(parseNum(t, cells[6]), s.MeanReturn) {
			t.Errorf("row %q; want label %s, normalised %v, return %v", lines[2+i], label, *s.MeanNormalized, s.MeanReturn)
		}
	}
}
