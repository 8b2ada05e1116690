package slurm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents/experiment"
	"github.com/evarl/evarl/agents/experiment/internal/exptest"
	"github.com/evarl/evarl/internal/config"
)

// helperEnv makes the test binary act as `rl-train experiment CONFIG --run I` and
// `… --merge` for the array tasks and merge jobs of TestSlurmMatchesLocal (sbatch
// passes the submitter's environment to the jobs). It calls what the command calls:
// experiment.Runner.RunOne and experiment.Merge.
const helperEnv = "EVARL_SLURM_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(args []string) int {
	if len(args) != 3 && len(args) != 4 || args[0] != "experiment" {
		fmt.Fprintf(os.Stderr, "helper: want experiment CONFIG --run I | --merge, got %q\n", args)
		return 2
	}
	cfg := experiment.DefaultConfig()
	if err := config.Load(args[1], &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := experiment.NewPlan(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch {
	case args[2] == "--merge":
		_, err = experiment.Merge(p)
	case args[2] == "--run" && len(args) == 4:
		var i int
		if i, err = strconv.Atoi(args[3]); err == nil {
			log := logrus.New()
			log.SetOutput(os.Stderr)
			err = (&experiment.Runner{Plan: p, Log: log}).RunOne(context.Background(), i)
		}
	default:
		err = fmt.Errorf("helper: unknown arguments %q", args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// needSlurm skips the test unless sbatch is on PATH and a controller answers; with
// EVARL_SLURM_TEST=1 (CI starts a single-node Slurm first) a missing cluster fails
// it instead.
func needSlurm(t *testing.T) {
	t.Helper()
	required := os.Getenv("EVARL_SLURM_TEST") == "1"
	// Reading SLURM_CONF also keys go test's result cache on the cluster: a new
	// cluster (CI starts one in a fresh directory) runs the test again.
	if conf := os.Getenv("SLURM_CONF"); conf != "" {
		t.Logf("SLURM_CONF=%s", conf)
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		if required {
			t.Fatal("EVARL_SLURM_TEST=1 but sbatch is not on PATH")
		}
		t.Skip("sbatch is not on PATH")
	}
	if out, err := exec.Command("sinfo", "--noheader").CombinedOutput(); err != nil {
		if required {
			t.Fatalf("EVARL_SLURM_TEST=1 but sinfo fails: %v\n%s", err, out)
		}
		t.Skipf("no Slurm controller answers: %v", err)
	}
}

// The tiny experiment submitted to a real Slurm — the runs as an array, the merge
// after it — gives the local backend's results.md and results.json byte for byte;
// a run then deleted is the only one submitted again, and the tables stay the same.
// Set EVARL_SLURM_TESTDIR to a directory the compute nodes share on a cluster of
// more than one node (the default is a temporary directory).
func TestSlurmMatchesLocal(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	if shared := os.Getenv("EVARL_SLURM_TESTDIR"); shared != "" {
		var err error
		if dir, err = os.MkdirTemp(shared, "evarl-slurm-test-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	text := exptest.Setup(t, dir)
	cfg := experiment.DefaultConfig()
	if err := config.Decode("exp.yaml", []byte(text), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The local backend, runs in this process.
	local, err := experiment.NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rn := &experiment.Runner{Plan: local}
	if failures, err := experiment.RunLocal(ctx, local, 1, rn.RunOne, nil); err != nil || len(failures) > 0 {
		t.Fatalf("local runs: %v %v", err, failures)
	}
	if _, err := experiment.Merge(local); err != nil {
		t.Fatal(err)
	}

	// The Slurm backend: this test binary stands in for rl-train.
	cfg.RunsDir, cfg.OutDir = filepath.Join(dir, "slurm-runs"), filepath.Join(dir, "slurm-out")
	cfg.Slurm.Executable, cfg.Slurm.Throttle = os.Args[0], 4
	cfg.Slurm.Time = "10"
	t.Setenv(helperEnv, "1")
	p, err := experiment.NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var out strings.Builder
	sub, err := Submit(ctx, p, Options{Wait: true, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s\ntask logs:\n%s", err, out.String(), logs(t, p))
	}
	t.Logf("8 runs and the merge through Slurm in %.1f s (%s)", time.Since(start).Seconds(), strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", "; "))
	if len(sub.Runs) != 8 {
		t.Fatalf("submitted %v, want all 8 runs", sub.Runs)
	}
	sameTables(t, local.Config.OutDir, cfg.OutDir)
	for _, r := range p.Runs {
		if log, err := os.ReadFile(p.SlurmLog(r.Index)); err != nil || !strings.Contains(string(log), fmt.Sprintf("array task %s_%d", sub.ArrayJob, r.Index)) {
			t.Errorf("run %d: task log %s: %v\n%s", r.Index, p.SlurmLog(r.Index), err, log)
		}
	}

	// Resubmission: only the run whose directory is gone.
	if err := os.RemoveAll(p.Runs[5].Dir); err != nil {
		t.Fatal(err)
	}
	sub, err = Submit(ctx, p, Options{Wait: true})
	if err != nil {
		t.Fatalf("%v\ntask logs:\n%s", err, logs(t, p))
	}
	if len(sub.Runs) != 1 || sub.Runs[0] != 5 {
		t.Errorf("resubmitted %v, want [5]", sub.Runs)
	}
	sameTables(t, local.Config.OutDir, cfg.OutDir)
	var status strings.Builder
	if err := WriteStatus(ctx, &status, p, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.String(), "8 runs: 8 done") || !strings.Contains(status.String(), fmt.Sprintf("COMPLETED %s_5", sub.ArrayJob)) {
		t.Errorf("status after the resubmission:\n%s", status.String())
	}
}

// sameTables fails unless both out_dirs hold the same results.md and results.json.
func sameTables(t *testing.T, want, got string) {
	t.Helper()
	for _, f := range []string{"results.md", "results.json"} {
		w, err := os.ReadFile(filepath.Join(want, f))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(got, f))
		if err != nil {
			t.Fatalf("%v (the merge job did not write it)", err)
		}
		if string(g) != string(w) {
			t.Errorf("%s from Slurm differs from the local backend's:\n%s\nwant\n%s", f, g, w)
		}
	}
}

// logs gathers the task and merge logs for a failure message.
func logs(t *testing.T, p *experiment.Plan) string {
	files, _ := filepath.Glob(filepath.Join(p.Config.RunsDir, experiment.SlurmDir, "logs", "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "== %s\n%s\n", f, data)
	}
	return b.String()
}
