package experiment

import (
	"strings"
	"testing"
)

// The slurm section accepts Slurm's own formats and names the field of a bad value.
func TestSlurmConfigValidate(t *testing.T) {
	for _, ok := range []SlurmConfig{
		DefaultSlurmConfig(),
		{CPUsPerTask: 4, Time: "90", Mem: "1500M", Partition: "cpu-long", Account: "rl.lab", JobName: "cmp_1", Throttle: 8, SbatchArgs: []string{"--qos=long", "--gres=gpu:1", "-q normal"}},
		{CPUsPerTask: 1, Time: "1-12:00:00"},
		{CPUsPerTask: 1, Time: "2:30:00"},
		{CPUsPerTask: 1, Time: "30:00"},
		{CPUsPerTask: 1, Time: "2-6"},
		{CPUsPerTask: 1, Time: "infinite", Mem: "8G"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	base := DefaultSlurmConfig()
	for _, c := range []struct {
		edit func(*SlurmConfig)
		want string
	}{
		{func(s *SlurmConfig) { s.Time = "2h" }, `slurm.time "2h"`},
		{func(s *SlurmConfig) { s.Mem = "4GB" }, `slurm.mem "4GB"`},
		{func(s *SlurmConfig) { s.CPUsPerTask = 0 }, "slurm.cpus_per_task = 0"},
		{func(s *SlurmConfig) { s.Throttle = -1 }, "slurm.throttle = -1"},
		{func(s *SlurmConfig) { s.SignalSeconds = 70000 }, "slurm.signal_seconds = 70000"},
		{func(s *SlurmConfig) { s.Partition = "cpu gpu" }, `slurm.partition "cpu gpu"`},
		{func(s *SlurmConfig) { s.JobName = "a;b" }, `slurm.job_name "a;b"`},
		{func(s *SlurmConfig) { s.SbatchArgs = []string{"qos=long"} }, `slurm.sbatch_args entry "qos=long"`},
		{func(s *SlurmConfig) { s.SbatchArgs = []string{"--time=5"} }, "set slurm.time"},
		{func(s *SlurmConfig) { s.SbatchArgs = []string{"-pdebug"} }, "set slurm.partition"},
		{func(s *SlurmConfig) { s.SbatchArgs = []string{"--time 5"} }, "set slurm.time"},
		{func(s *SlurmConfig) { s.SbatchArgs = []string{"--output=x.log"} }, "task logs go to runs_dir/slurm/logs"},
		{func(s *SlurmConfig) { s.Setup = []string{"a\nb"} }, "slurm.setup entry"},
		{func(s *SlurmConfig) { s.Time = "2" }, "slurm.signal_seconds 120 is not shorter than slurm.time 2 (120 s)"},
	} {
		s := base
		c.edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", s, err, c.want)
		}
	}
}

func TestSlurmSeconds(t *testing.T) {
	for in, want := range map[string]int{"90": 5400, "1:30": 90, "2:00:00": 7200, "1-0": 86400, "1-2:03": 93780, "1-02:03:04": 93784} {
		if got, ok := slurmSeconds(in); !ok || got != want {
			t.Errorf("slurmSeconds(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "infinite", "UNLIMITED", "2h"} {
		if _, ok := slurmSeconds(in); ok {
			t.Errorf("slurmSeconds(%q) gave a limit", in)
		}
	}
}
