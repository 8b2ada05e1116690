package nn

import (
	"math"
	"strings"
	"testing"
)

// TestScheduleValues checks learning rates at known steps. Warm-up follows the DT
// reference's LambdaLR factor min((step+1)/warmup, 1); the cosine midpoint is
// Floor + ½(Peak−Floor), a quarter of the way is Floor + ½(Peak−Floor)(1+cos π/4).
func TestScheduleValues(t *testing.T) {
	constant := WarmupConstant{Peak: 1e-3, Warmup: 10}
	noWarm := WarmupConstant{Peak: 1e-3}
	cosine := WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 10, Total: 110}
	for _, tc := range []struct {
		name  string
		sched Schedule
		step  int
		want  float64
	}{
		{"constant first step", constant, 0, 1e-4},
		{"constant mid warm-up", constant, 4, 5e-4},
		{"constant last warm-up step", constant, 9, 1e-3},
		{"constant after", constant, 10, 1e-3},
		{"constant long after", constant, 100000, 1e-3},
		{"no warm-up", noWarm, 0, 1e-3},
		{"cosine first step", cosine, 0, 0.1},
		{"cosine warm-up", cosine, 4, 0.5},
		{"cosine peak", cosine, 10, 1},
		{"cosine quarter", cosine, 35, 0.1 + 0.45*(1+math.Sqrt2/2)},
		{"cosine midpoint", cosine, 60, 0.55},
		{"cosine three quarters", cosine, 85, 0.1 + 0.45*(1-math.Sqrt2/2)},
		{"cosine end", cosine, 110, 0.1},
		{"cosine after", cosine, 5000, 0.1},
	} {
		if got := tc.sched.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: LR(%d) = %.15g, want %.15g", tc.name, tc.step, got, tc.want)
		}
	}
	// Cosine decay is monotone between warm-up and Total.
	for s := 10; s < 110; s++ {
		if cosine.LR(s+1) > cosine.LR(s) {
			t.Fatalf("cosine rises from step %d to %d", s, s+1)
		}
	}
}

func TestNewSchedule(t *testing.T) {
	for _, tc := range []struct {
		cfg     ScheduleConfig
		want    Schedule
		wantErr string
	}{
		{DefaultScheduleConfig(), WarmupConstant{Peak: 1e-4, Warmup: 10000}, ""},
		{ScheduleConfig{Kind: "cosine", LR: 1e-3, WarmupSteps: 100, TotalSteps: 1000, MinLR: 1e-5},
			WarmupCosine{Peak: 1e-3, Floor: 1e-5, Warmup: 100, Total: 1000}, ""},
		{ScheduleConfig{Kind: "linear", LR: 1e-3}, nil, `kind = "linear"`},
		{ScheduleConfig{Kind: "constant", LR: 0}, nil, "lr = 0"},
		{ScheduleConfig{Kind: "constant", LR: 1e-3, WarmupSteps: -1}, nil, "warmup_steps = -1"},
		{ScheduleConfig{Kind: "cosine", LR: 1e-3, WarmupSteps: 100, TotalSteps: 100}, nil, "total_steps = 100"},
		{ScheduleConfig{Kind: "cosine", LR: 1e-3, TotalSteps: 100, MinLR: 1e-2}, nil, "min_lr = 0.01"},
	} {
		got, err := NewSchedule(tc.cfg)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewSchedule(%+v): err %v, want one containing %q", tc.cfg, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NewSchedule(%+v) = %#v, %v; want %#v", tc.cfg, got, err, tc.want)
		}
	}
}
