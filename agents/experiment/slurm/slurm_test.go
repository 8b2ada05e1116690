package slurm

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/experiment"
	"github.com/evarl/evarl/agents/experiment/internal/exptest"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden job scripts in testdata/")

func TestArraySpec(t *testing.T) {
	for _, c := range []struct {
		indices  []int
		throttle int
		want     string
	}{
		{[]int{0}, 0, "0"},
		{[]int{0, 1, 2, 3}, 0, "0-3"},
		{[]int{7, 0, 2, 1, 3}, 4, "0-3,7%4"},
		{[]int{1, 3, 5}, 0, "1,3,5"},
		{[]int{9, 10, 12, 13, 14, 20}, 2, "9-10,12-14,20%2"},
		{[]int{4, 4, 5}, 0, "4-5"},
	} {
		if got := ArraySpec(c.indices, c.throttle); got != c.want {
			t.Errorf("ArraySpec(%v, %d) = %q, want %q", c.indices, c.throttle, got, c.want)
		}
	}
}

// goldenLayout is a submission's files on a shared file system.
var goldenLayout = Layout{WorkDir: "/shared/evarl", Executable: "/shared/evarl/bin/rl-train",
	Config: "/shared/evarl/runs/cmp/slurm/config-0123456789ab.yaml", Dir: "/shared/evarl/runs/cmp/slurm"}

// The default template with every option set, and with the defaults, writes the
// scripts in testdata/ (go test -update rewrites them), and bash parses them.
func TestScriptsGolden(t *testing.T) {
	full := experiment.SlurmConfig{Partition: "cpu", Account: "rl-lab", Time: "2:00:00", CPUsPerTask: 4, Mem: "8G", Throttle: 16,
		SignalSeconds: 300, Requeue: false, SbatchArgs: []string{"--qos=long", "--constraint=avx2"},
		Setup: []string{"module load openblas", `export EVARL_BLAS="openblas"`}}
	for _, c := range []struct {
		name string
		cfg  experiment.SlurmConfig
		runs []int
	}{
		{"full", full, []int{0, 1, 2, 5, 7, 8, 9}},
		{"default", experiment.DefaultSlurmConfig(), []int{3}},
	} {
		array, merge, err := Scripts(c.cfg, "evarl-cmp", c.runs, goldenLayout)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := ParseTemplate("")
		if err != nil {
			t.Fatal(err)
		}
		for kind, s := range map[string]Script{"array": array, "merge": merge} {
			text, err := Render(tmpl, s)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", kind+"_"+c.name+".sh")
			if *update {
				if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if text != string(want) {
				t.Errorf("%s: the script differs from %s:\n%s", c.name, golden, text)
			}
			if bash, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command(bash, "-n")
				cmd.Stdin = strings.NewReader(text)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s: bash -n: %v\n%s", golden, err, out)
				}
			}
		}
	}
}

// A template of one's own receives the Script; a broken one is an error naming its
// file.
func TestCustomTemplate(t *testing.T) {
	dir := t.TempDir()
	good := exptest.WriteFile(t, dir, "good.tmpl", "#!/bin/sh\n{{range .Directives}}#SBATCH {{.}}\n{{end}}cd {{quote .WorkDir}} && exec {{.Command}} # {{.Kind}} {{.Array}} {{.CPUsPerTask}}\n")
	array, _, err := Scripts(experiment.DefaultSlurmConfig(), "x", []int{2, 3}, goldenLayout)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParseTemplate(good)
	if err != nil {
		t.Fatal(err)
	}
	text, err := Render(tmpl, array)
	if err != nil {
		t.Fatal(err)
	}
	if want := `exec /shared/evarl/bin/rl-train experiment /shared/evarl/runs/cmp/slurm/config-0123456789ab.yaml --run "$SLURM_ARRAY_TASK_ID" # array 2-3 1`; !strings.Contains(text, want) {
		t.Errorf("rendered\n%s\nwant a line with %s", text, want)
	}
	for name, text := range map[string]string{
		"syntax.tmpl":  "#!/bin/sh\n{{.Command\n",
		"field.tmpl":   "#!/bin/sh\n{{.Partition}}\n",
		"shebang.tmpl": "exec {{.Command}}\n",
	} {
		path := exptest.WriteFile(t, dir, name, text)
		tmpl, err := ParseTemplate(path)
		if err == nil {
			_, err = Render(tmpl, array)
		}
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("template %s: error %v, want one naming the file", name, err)
		}
	}
	if _, err := ParseTemplate(filepath.Join(dir, "absent.tmpl")); err == nil {
		t.Error("a missing template file gave no error")
	}
	if _, _, err := Scripts(experiment.DefaultSlurmConfig(), "x", []int{0}, Layout{WorkDir: "/my files", Executable: "/a", Config: "/b", Dir: "/c"}); err == nil {
		t.Error("a path with a space gave no error")
	}
}

func TestParseQueue(t *testing.T) {
	out := "12_3|12|3|RUNNING|None\n12_5|12|5|PENDING|JobArrayTaskLimit\n13|13|N/A|PENDING|Dependency\n11_0|11|0|TIMEOUT|TimeLimit\n"
	got, err := parseQueue([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Task{{"12_3", "12", 3, "RUNNING", "None"}, {"12_5", "12", 5, "PENDING", "JobArrayTaskLimit"},
		{"13", "13", -1, "PENDING", "Dependency"}, {"11_0", "11", 0, "TIMEOUT", "TimeLimit"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseQueue = %+v, want %+v", got, want)
	}
	if active := []bool{got[0].Active(), got[1].Active(), got[2].Active(), got[3].Active()}; !reflect.DeepEqual(active, []bool{true, true, true, false}) {
		t.Errorf("active %v", active)
	}
	if s := got[1].String(); s != "PENDING 12_5 (JobArrayTaskLimit)" {
		t.Errorf("String() = %q", s)
	}
	if _, err := parseQueue([]byte("12_3|RUNNING\n")); err == nil {
		t.Error("a line of other fields gave no error")
	}
}

// statePlan is a plan of six runs in runs_dir dir, each left on disk in the state
// named: done, partial, failed, missing, stale (another key's) and done.
func statePlan(t *testing.T, dir string) *experiment.Plan {
	t.Helper()
	p := &experiment.Plan{Config: experiment.Config{RunsDir: dir}}
	for i, state := range []string{"done", "partial", "failed", "missing", "stale", "done"} {
		r := experiment.Run{Index: i, Key: fmt.Sprintf("key%d", i), Dir: filepath.Join(dir, fmt.Sprintf("run%d", i))}
		p.Runs = append(p.Runs, r)
		if state == "missing" {
			continue
		}
		key := r.Key
		if state == "stale" {
			key = "old"
		}
		exptest.WriteFile(t, mkdir(t, r.Dir), experiment.KeyFile, key+"\n")
		switch state {
		case "done":
			exptest.WriteFile(t, r.Dir, finetune.ResultsFile, "{}\n")
		case "partial":
			exptest.WriteFile(t, mkdir(t, filepath.Join(r.Dir, "last")), agents.TrainStateFile, "{}\n")
		case "failed":
			exptest.WriteFile(t, r.Dir, experiment.FailedFile, "boom\n")
		}
	}
	return p
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Resubmission takes the runs that are not done and that no active task holds; a
// task holding another version of a run is an error.
func TestSelect(t *testing.T) {
	p := statePlan(t, t.TempDir())
	first := Submission{ArrayJob: "10", Runs: []int{0, 1, 2, 3, 4, 5}, Keys: []string{"key0", "key1", "key2", "key3", "key4", "key5"}}
	second := Submission{ArrayJob: "20", Runs: []int{1, 3}, Keys: []string{"key1", "key3"}}
	for _, c := range []struct {
		name  string
		subs  []Submission
		tasks []Task
		want  []int
		err   string
	}{
		{name: "nothing submitted", want: []int{1, 2, 3, 4}},
		{name: "every task ended", subs: []Submission{first}, tasks: []Task{{ID: "10_1", Job: "10", Index: 1, State: "TIMEOUT"}, {ID: "10_2", Job: "10", Index: 2, State: "FAILED"}},
			want: []int{1, 2, 3, 4}},
		{name: "tasks still queued or running", subs: []Submission{first, second},
			tasks: []Task{{ID: "10_1", Job: "10", Index: 1, State: "PREEMPTED"}, {ID: "20_1", Job: "20", Index: 1, State: "RUNNING"},
				{ID: "20_3", Job: "20", Index: 3, State: "PENDING"}, {ID: "10_4", Job: "10", Index: 4, State: "REQUEUED"}},
			want: []int{2}},
		{name: "a queued task of another version", subs: []Submission{{ArrayJob: "30", Runs: []int{2}, Keys: []string{"other"}}},
			tasks: []Task{{ID: "30_2", Job: "30", Index: 2, State: "PENDING"}}, err: "task 30_2 (PENDING) runs another version of run 2"},
		{name: "an ended task of another version", subs: []Submission{{ArrayJob: "30", Runs: []int{2}, Keys: []string{"other"}}},
			tasks: []Task{{ID: "30_2", Job: "30", Index: 2, State: "COMPLETED"}}, want: []int{1, 2, 3, 4}},
	} {
		got, err := Select(p, c.subs, c.tasks)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !reflect.DeepEqual(got, c.want):
			t.Errorf("%s: Select = %v, want %v", c.name, got, c.want)
		}
	}
}

// fakeSlurm answers sbatch with increasing job ids and squeue with the tasks set.
type fakeSlurm struct {
	next  int
	calls [][]string
	tasks []Task
}

func (f *fakeSlurm) exec(_ context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, append([]string{name}, args...))
	switch name {
	case "sbatch":
		f.next++
		return []byte(fmt.Sprintf("%d;cluster\n", 100+f.next)), nil
	case "squeue":
		if len(f.tasks) == 0 {
			return nil, &CommandError{Name: name, Args: args, Stderr: "slurm_load_jobs error: Invalid job id specified", Err: fmt.Errorf("exit status 1")}
		}
		var b strings.Builder
		for _, t := range f.tasks {
			k := "N/A"
			if t.Index >= 0 {
				k = fmt.Sprint(t.Index)
			}
			fmt.Fprintf(&b, "%s|%s|%s|%s|%s\n", t.ID, t.Job, k, t.State, t.Reason)
		}
		return []byte(b.String()), nil
	}
	return nil, fmt.Errorf("unexpected command %s", name)
}

// Submit writes the config snapshot and both scripts, submits the array of the runs
// to do and the merge after it, records the submission, and submits nothing again
// while those tasks are queued; a dry run writes and submits nothing.
func TestSubmitRecordsAndResubmits(t *testing.T) {
	dir := t.TempDir()
	cfg := experiment.DefaultConfig()
	if err := config.Decode("exp.yaml", []byte(exptest.Setup(t, dir)), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Slurm.Executable, cfg.Slurm.Throttle = "/shared/bin/rl-train", 3
	p, err := experiment.NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeSlurm{}
	var out strings.Builder
	if sub, err := Submit(context.Background(), p, Options{DryRun: true, Out: &out, Exec: fake.exec}); err != nil || sub != nil {
		t.Fatalf("dry run: %v, %v", sub, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.RunsDir, experiment.SlurmDir)); err == nil || len(fake.calls) != 0 {
		t.Errorf("the dry run wrote runs_dir/slurm or ran %v", fake.calls)
	}
	for _, want := range []string{"#SBATCH --array=0-7%3", "--run \"$SLURM_ARRAY_TASK_ID\"", "--merge", "sbatch --parsable --dependency=afterany:ARRAY_JOB_ID"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}

	sub, err := Submit(context.Background(), p, Options{Exec: fake.exec})
	if err != nil {
		t.Fatal(err)
	}
	slurmDir := filepath.Join(cfg.RunsDir, experiment.SlurmDir)
	if sub.ArrayJob != "101" || sub.MergeJob != "102" || !reflect.DeepEqual(sub.Runs, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("submission %+v", sub)
	}
	if got := fake.calls[len(fake.calls)-1]; !reflect.DeepEqual(got, []string{"sbatch", "--parsable", "--dependency=afterany:101", filepath.Join(slurmDir, "merge.sh")}) {
		t.Errorf("merge submitted with %v", got)
	}
	// The snapshot loads into the same plan.
	back := experiment.DefaultConfig()
	if err := config.Load(sub.Config, &back); err != nil {
		t.Fatal(err)
	}
	q, err := experiment.NewPlan(back)
	if err != nil {
		t.Fatal(err)
	}
	for i := range q.Runs {
		if q.Runs[i].Key != p.Runs[i].Key {
			t.Errorf("run %d: the snapshot's key differs", i)
		}
	}
	script, err := os.ReadFile(filepath.Join(slurmDir, "array.sh"))
	if err != nil || !strings.Contains(string(script), "/shared/bin/rl-train experiment "+sub.Config+` --run "$SLURM_ARRAY_TASK_ID"`) {
		t.Errorf("array.sh (%v):\n%s", err, script)
	}
	if fi, err := os.Stat(filepath.Join(slurmDir, "logs")); err != nil || !fi.IsDir() {
		t.Errorf("no logs directory for the tasks: %v", err)
	}
	subs, err := ReadSubmissions(p)
	if err != nil || len(subs) != 1 || subs[0].ArrayJob != "101" || len(subs[0].Keys) != 8 || subs[0].Keys[7] != p.Runs[7].Key {
		t.Fatalf("recorded %+v, %v", subs, err)
	}

	// While the tasks are queued or running nothing is submitted again.
	for i := range 8 {
		state := "PENDING"
		if i < 2 {
			state = "RUNNING"
		}
		fake.tasks = append(fake.tasks, Task{ID: fmt.Sprintf("101_%d", i), Job: "101", Index: i, State: state, Reason: "None"})
	}
	fake.tasks = append(fake.tasks, Task{ID: "102", Job: "102", Index: -1, State: "PENDING", Reason: "Dependency"})
	calls := len(fake.calls)
	out.Reset()
	if sub, err := Submit(context.Background(), p, Options{Exec: fake.exec, Out: &out}); err != nil || sub != nil || len(fake.calls) != calls+1 {
		t.Fatalf("resubmitting queued runs: %+v, %v, calls %v", sub, err, fake.calls[calls:])
	}
	if !strings.Contains(out.String(), "8 held by queued Slurm tasks") {
		t.Errorf("output: %s", out.String())
	}
	var status strings.Builder
	if err := WriteStatus(context.Background(), &status, p, fake.exec); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SLURM", "RUNNING 101_1", "PENDING 101_7", "Slurm: 2 array tasks running, 6 pending", "merge job 102: PENDING (Dependency)"} {
		if !strings.Contains(status.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, status.String())
		}
	}

	// Two tasks ended (one timed out); their runs are submitted again, the others
	// stay with their tasks.
	fake.tasks[0].State, fake.tasks[5].State = "TIMEOUT", "COMPLETED"
	sub, err = Submit(context.Background(), p, Options{Exec: fake.exec})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sub.Runs, []int{0, 5}) || sub.ArrayJob != "103" {
		t.Errorf("resubmission %+v, want runs [0 5] as array job 103", sub)
	}
	if subs, _ := ReadSubmissions(p); len(subs) != 2 {
		t.Errorf("%d submissions recorded, want 2", len(subs))
	}
}

// The running binary is refused as rl-train when it is a temporary go build (as a
// test binary is, and as go run's is).
func TestExecutableRefusesTemporaryBuilds(t *testing.T) {
	exe, err := os.Executable()
	if err != nil || !strings.Contains(exe, "go-build") {
		t.Skipf("the test binary %s is not a temporary go build", exe)
	}
	if _, err := Executable(experiment.SlurmConfig{}); err == nil || !strings.Contains(err.Error(), "slurm.executable") {
		t.Errorf("Executable() of a temporary build: %v, want an error naming slurm.executable", err)
	}
	if got, err := Executable(experiment.SlurmConfig{Executable: "bin/rl-train"}); err != nil || !filepath.IsAbs(got) {
		t.Errorf("Executable(bin/rl-train) = %q, %v; want an absolute path", got, err)
	}
}

// queueSteps answers each squeue with the next listing (the last one repeats).
type queueSteps struct{ steps [][]Task }

func (q *queueSteps) exec(_ context.Context, name string, args ...string) ([]byte, error) {
	f := &fakeSlurm{tasks: q.steps[0]}
	if len(q.steps) > 1 {
		q.steps = q.steps[1:]
	}
	return f.exec(context.Background(), name, args...)
}

// Waiting ends when neither job is active: with the merge job's state.
func TestWait(t *testing.T) {
	defer func(a, b time.Duration) { pollFirst, pollMax = a, b }(pollFirst, pollMax)
	pollFirst, pollMax = time.Millisecond, time.Millisecond
	sub := &Submission{ArrayJob: "7", MergeJob: "8"}
	running := []Task{{ID: "7_0", Job: "7", Index: 0, State: "RUNNING"}, {ID: "8", Job: "8", Index: -1, State: "PENDING", Reason: "Dependency"}}
	ended := func(merge string) []Task {
		return []Task{{ID: "7_0", Job: "7", Index: 0, State: "FAILED"}, {ID: "8", Job: "8", Index: -1, State: merge}}
	}
	for _, c := range []struct {
		steps [][]Task
		want  string
	}{
		{[][]Task{running, running, ended("COMPLETED")}, ""},
		{[][]Task{running, ended("FAILED")}, "ended FAILED"},
		{[][]Task{running, {}}, "no longer knows"},
	} {
		err := wait(context.Background(), (&queueSteps{c.steps}).exec, sub)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("wait: %v, want %q", err, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := wait(ctx, (&queueSteps{[][]Task{running}}).exec, sub); err == nil {
		t.Error("a cancelled wait returned nil")
	}
}
