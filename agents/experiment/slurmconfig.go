package experiment

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SlurmConfig is an experiment's slurm section: how package slurm submits the runs
// as a job array (`rl-train experiment CONFIG --slurm`). It lives here, beside the
// rest of the experiment's config, so that one strict YAML file holds both; it
// changes no run key, so the same runs are reused whichever backend ran them.
type SlurmConfig struct {
	// Partition is sbatch's --partition ("": the cluster's default partition).
	Partition string `yaml:"partition"`
	// Account is --account, the allocation charged ("": the user's default).
	Account string `yaml:"account"`
	// Time is each task's time limit, --time, in Slurm's formats (minutes, MM:SS,
	// HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; "": the partition's default). A run that
	// reaches it saves last/ and resumes when submitted again.
	Time string `yaml:"time"`
	// CPUsPerTask is --cpus-per-task; the run uses them (GOMAXPROCS). 1, as every
	// run of the local backend, is the default.
	CPUsPerTask int `yaml:"cpus_per_task"`
	// Mem is each task's memory, --mem, e.g. 2G or 1500M ("": the partition's
	// default).
	Mem string `yaml:"mem"`
	// Throttle is how many array tasks may run at once (--array=…%N; 0: as many as
	// Slurm allows).
	Throttle int `yaml:"throttle"`
	// SignalSeconds asks Slurm to send the run SIGTERM this many seconds before its
	// time limit (--signal=B:TERM@N), so that it saves last/ in good time and exits;
	// 0 leaves only the SIGTERM Slurm sends at the limit itself, KillWait seconds
	// (typically 30) before SIGKILL.
	SignalSeconds int `yaml:"signal_seconds"`
	// Requeue lets Slurm put a preempted task (or one whose node failed) back in
	// the queue (--requeue; false writes --no-requeue); it resumes from last/.
	Requeue bool `yaml:"requeue"`
	// JobName names the array job, and with "-merge" the merge job ("": evarl- and
	// the config file's name).
	JobName string `yaml:"job_name"`
	// SbatchArgs are further sbatch options, one option per entry
	// ("--qos=long", "--constraint=avx2"), written as #SBATCH lines of both jobs.
	SbatchArgs []string `yaml:"sbatch_args"`
	// Setup are shell lines every job runs before rl-train, e.g. "module load
	// openblas".
	Setup []string `yaml:"setup"`
	// Template is a text/template file that replaces the default job script
	// (slurm.DefaultTemplate documents the fields it receives); "": the default.
	Template string `yaml:"template"`
	// Executable is rl-train as the compute nodes find it, on the shared file
	// system ("": the submitting rl-train binary's own path).
	Executable string `yaml:"executable"`
}

// DefaultSlurmConfig runs each task on one CPU, signals it two minutes before its
// time limit and lets Slurm requeue it.
func DefaultSlurmConfig() SlurmConfig {
	return SlurmConfig{CPUsPerTask: 1, SignalSeconds: 120, Requeue: true}
}

var (
	slurmTime = regexp.MustCompile(`^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|(?i:infinite|unlimited))$`)
	slurmMem  = regexp.MustCompile(`^\d+[KMGT]?$`)
	slurmName = regexp.MustCompile(`^[A-Za-z0-9._+-]+$`)
)

// slurmOwnArgs are the sbatch options the backend writes itself, with what sets
// each.
var slurmOwnArgs = map[string]string{}

func init() {
	for hint, names := range map[string][]string{
		"the indices are the runs to do; set slurm.throttle": {"--array", "-a"},
		"task logs go to runs_dir/slurm/logs":                {"--output", "-o", "--error", "-e", "--open-mode"},
		"the merge job depends on the array":                 {"--dependency", "-d"},
		"set slurm.job_name":                                 {"--job-name", "-J"},
		"set slurm.partition":                                {"--partition", "-p"},
		"set slurm.account":                                  {"--account", "-A"},
		"set slurm.time":                                     {"--time", "-t"},
		"set slurm.cpus_per_task":                            {"--cpus-per-task", "-c"},
		"set slurm.mem":                                      {"--mem"},
		"set slurm.signal_seconds":                           {"--signal"},
		"set slurm.requeue":                                  {"--requeue", "--no-requeue"},
		"jobs run in the directory they are submitted from":  {"--chdir", "-D"},
		"use rl-train experiment --slurm --wait":             {"--wait", "-W"},
		"rl-train reads the job ids; the script is a file":   {"--parsable", "--wrap"},
	} {
		for _, n := range names {
			slurmOwnArgs[n] = hint
		}
	}
}

// Validate names the first bad field of the slurm section.
func (s SlurmConfig) Validate() error {
	for _, f := range []struct{ key, value string }{{"partition", s.Partition}, {"account", s.Account}, {"job_name", s.JobName}} {
		if f.value != "" && !slurmName.MatchString(f.value) {
			return fmt.Errorf("experiment: slurm.%s %q: want letters, digits and . _ + - only", f.key, f.value)
		}
	}
	switch {
	case s.Time != "" && !slurmTime.MatchString(s.Time):
		return fmt.Errorf("experiment: slurm.time %q: want a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or infinite)", s.Time)
	case s.Mem != "" && !slurmMem.MatchString(s.Mem):
		return fmt.Errorf("experiment: slurm.mem %q: want a number with an optional unit K, M, G or T (e.g. 2G)", s.Mem)
	case s.CPUsPerTask < 1:
		return fmt.Errorf("experiment: slurm.cpus_per_task = %d, want ≥ 1", s.CPUsPerTask)
	case s.Throttle < 0:
		return fmt.Errorf("experiment: slurm.throttle = %d, want ≥ 0 (0: no limit)", s.Throttle)
	case s.SignalSeconds < 0 || s.SignalSeconds > 65535:
		return fmt.Errorf("experiment: slurm.signal_seconds = %d, want 0 to 65535", s.SignalSeconds)
	case strings.ContainsAny(s.Template+s.Executable, "\n\r"):
		return fmt.Errorf("experiment: slurm.template and slurm.executable must be single-line paths")
	}
	if limit, ok := slurmSeconds(s.Time); ok && s.SignalSeconds >= limit {
		return fmt.Errorf("experiment: slurm.signal_seconds %d is not shorter than slurm.time %s (%d s): the run would be told to stop as it starts", s.SignalSeconds, s.Time, limit)
	}
	for _, a := range s.SbatchArgs {
		if !strings.HasPrefix(a, "-") || strings.ContainsAny(a, "\n\r") {
			return fmt.Errorf("experiment: slurm.sbatch_args entry %q: want one sbatch option such as --qos=long", a)
		}
		name := a
		if i := strings.IndexAny(a, "= \t"); i >= 0 {
			name = a[:i]
		}
		if len(name) > 2 && !strings.HasPrefix(name, "--") {
			name = name[:2] // -pdebug
		}
		if hint, ok := slurmOwnArgs[name]; ok {
			return fmt.Errorf("experiment: slurm.sbatch_args entry %q: rl-train writes %s itself (%s)", a, name, hint)
		}
	}
	for _, l := range s.Setup {
		if strings.ContainsAny(l, "\n\r") {
			return fmt.Errorf("experiment: slurm.setup entry %q: want one shell line per entry", l)
		}
	}
	return nil
}

// slurmSeconds is a Slurm time limit in seconds (false for none, infinite or a
// malformed one): minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
func slurmSeconds(t string) (int, bool) {
	if !slurmTime.MatchString(t) || t == "" || strings.EqualFold(t, "infinite") || strings.EqualFold(t, "unlimited") {
		return 0, false
	}
	days := 0
	if d, rest, ok := strings.Cut(t, "-"); ok {
		days, _ = strconv.Atoi(d)
		f := strings.Split(rest, ":")
		n := make([]int, 3) // hours, minutes, seconds
		for i, x := range f {
			n[i], _ = strconv.Atoi(x)
		}
		return ((days*24+n[0])*60+n[1])*60 + n[2], true
	}
	f := strings.Split(t, ":")
	n := make([]int, len(f))
	for i, x := range f {
		n[i], _ = strconv.Atoi(x)
	}
	switch len(n) {
	case 1:
		return n[0] * 60, true
	case 2:
		return n[0]*60 + n[1], true
	}
	return (n[0]*60+n[1])*60 + n[2], true
}
