package slurm

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/evarl/evarl/agents/experiment"
)

// DefaultTemplate is the job script of both jobs of a submission unless the slurm
// section names another template (slurm.template). A template is Go text/template
// text that receives a Script and may call quote (shell quoting). One of your own
// must run the command with exec, as this one does: then Slurm's signals
// (--signal=B:TERM@N before the time limit, scancel --batch) reach rl-train, which
// saves last/ before it exits.
const DefaultTemplate = `#!/bin/bash
{{range .Directives}}#SBATCH {{.}}
{{end -}}
# evarl experiment, {{if eq .Kind "array"}}one array task per run: the array index is the run's index in the plan{{else}}merge of the runs' results into out_dir{{end}}.
# Written by rl-train experiment --slurm.
set -e
{{range .Setup}}{{.}}
{{end -}}
cd {{quote .WorkDir}}
# The run's goroutines use the task's CPUs; evarl calls OpenBLAS from each of them
# single-threaded, the fastest split (package nn, OpenBLASGemm).
export GOMAXPROCS="${SLURM_CPUS_PER_TASK:-1}" OPENBLAS_NUM_THREADS=1
echo "evarl: slurm job ${SLURM_JOB_ID:-?}{{if eq .Kind "array"}} (array task ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID:-?}){{end}} on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec {{.Command}}
`

// Script is what a job script template receives.
type Script struct {
	// Kind is "array" (one task per run) or "merge" (the job after the array).
	Kind string
	// JobName is the job's name (--job-name).
	JobName string
	// Directives are the job's sbatch options, one per entry, which the default
	// template writes as "#SBATCH" lines: name, array, log file, partition,
	// account, time, CPUs, memory, signal, requeue, then slurm.sbatch_args.
	Directives []string
	// Array is the --array value: the plan indices of the runs to do, with the
	// throttle ("0-3,7%4"); "" for the merge job.
	Array string
	// Setup are slurm.setup's shell lines.
	Setup []string
	// WorkDir is where the job runs: the directory the submission was made from,
	// against which the config's relative paths resolve.
	WorkDir string
	// Executable is rl-train, Config the config snapshot the job reads.
	Executable, Config string
	// Command is the job's command line, shell-quoted: Executable experiment Config
	// --run "$SLURM_ARRAY_TASK_ID" for the array, --merge for the merge job.
	Command string
	// CPUsPerTask is slurm.cpus_per_task (1 for the merge job).
	CPUsPerTask int
}

// ArraySpec writes plan indices as a --array value: sorted, runs of consecutive
// indices as ranges, and the throttle as %N when it is > 0 ("0-3,7,9-10%2").
func ArraySpec(indices []int, throttle int) string {
	idx := append([]int(nil), indices...)
	sort.Ints(idx)
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] <= idx[j]+1 {
			j++
		}
		if idx[j] == idx[i] {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	spec := strings.Join(parts, ",")
	if throttle > 0 {
		spec += fmt.Sprintf("%%%d", throttle)
	}
	return spec
}

// Layout is where a submission's files are on the shared file system; every path is
// absolute.
type Layout struct {
	// WorkDir is the directory the jobs run in.
	WorkDir string
	// Executable is rl-train as the compute nodes find it.
	Executable string
	// Config is the config snapshot the jobs read.
	Config string
	// Dir is runs_dir/slurm: scripts, submissions, snapshots, logs/.
	Dir string
}

// Scripts builds the two jobs of a submission of runs (plan indices): the array,
// one task per run, and the merge.
func Scripts(cfg experiment.SlurmConfig, jobName string, runs []int, l Layout) (array, merge Script, err error) {
	for _, path := range []string{l.WorkDir, l.Executable, l.Config, l.Dir} {
		if unsafePath.MatchString(path) {
			return array, merge, fmt.Errorf("slurm: path %q: job scripts need paths without spaces, quotes, $, backslashes or backquotes", path)
		}
	}
	if len(runs) == 0 {
		return array, merge, fmt.Errorf("slurm: no run to submit")
	}
	common := func(cpus int) []string {
		var d []string
		if cfg.Partition != "" {
			d = append(d, "--partition="+cfg.Partition)
		}
		if cfg.Account != "" {
			d = append(d, "--account="+cfg.Account)
		}
		if cfg.Time != "" {
			d = append(d, "--time="+cfg.Time)
		}
		d = append(d, fmt.Sprintf("--cpus-per-task=%d", cpus))
		if cfg.Mem != "" {
			d = append(d, "--mem="+cfg.Mem)
		}
		return d
	}
	spec := ArraySpec(runs, cfg.Throttle)
	array = Script{Kind: "array", JobName: jobName, Array: spec, Setup: cfg.Setup, WorkDir: l.WorkDir, Executable: l.Executable, Config: l.Config,
		Command: fmt.Sprintf(`%s experiment %s --run "$SLURM_ARRAY_TASK_ID"`, quote(l.Executable), quote(l.Config)), CPUsPerTask: cfg.CPUsPerTask}
	array.Directives = append([]string{"--job-name=" + jobName, "--array=" + spec, "--output=" + l.Dir + "/logs/run-%a.log", "--open-mode=append"},
		common(cfg.CPUsPerTask)...)
	if cfg.SignalSeconds > 0 {
		array.Directives = append(array.Directives, fmt.Sprintf("--signal=B:TERM@%d", cfg.SignalSeconds))
	}
	if cfg.Requeue {
		array.Directives = append(array.Directives, "--requeue")
	} else {
		array.Directives = append(array.Directives, "--no-requeue")
	}
	array.Directives = append(array.Directives, cfg.SbatchArgs...)

	merge = Script{Kind: "merge", JobName: jobName + "-merge", Setup: cfg.Setup, WorkDir: l.WorkDir, Executable: l.Executable, Config: l.Config,
		Command: fmt.Sprintf(`%s experiment %s --merge`, quote(l.Executable), quote(l.Config)), CPUsPerTask: 1}
	merge.Directives = append([]string{"--job-name=" + merge.JobName, "--output=" + l.Dir + "/logs/merge-%j.log", "--open-mode=append"}, common(1)...)
	merge.Directives = append(merge.Directives, cfg.SbatchArgs...)
	return array, merge, nil
}

var unsafePath = regexp.MustCompile("[\\s'\"$`\\\\]")

// ParseTemplate reads a job script template: the file at path, or DefaultTemplate
// when path is "".
func ParseTemplate(path string) (*template.Template, error) {
	text, name := DefaultTemplate, "default"
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("slurm: template: %w", err)
		}
		text, name = string(data), path
	}
	t, err := template.New(name).Funcs(template.FuncMap{"quote": quote}).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("slurm: template %s: %w", name, err)
	}
	return t, nil
}

// Render executes the template on s.
func Render(t *template.Template, s Script) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, s); err != nil {
		return "", fmt.Errorf("slurm: template %s: %w", t.Name(), err)
	}
	if !strings.HasPrefix(b.String(), "#!") {
		return "", fmt.Errorf("slurm: template %s: the script must start with #! (sbatch requires it)", t.Name())
	}
	return b.String(), nil
}

// quote makes s one shell word.
func quote(s string) string {
	if s != "" && plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)
