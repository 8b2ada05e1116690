package experiment

import (
	"strings"
	"testing"
)

// The timing table averages per family, mode and variant: wall time over all runs,
// EVA's share over all runs, and the pass's share only over the runs that recorded
// it (hand-computed shares below).
func TestTimingMarkdown(t *testing.T) {
	res := &Results{
		Runs: []RunResult{
			{Index: 0, Family: "grid", Mode: "offline", Variant: "eva"},
			{Index: 1, Family: "grid", Mode: "offline", Variant: "eva"},
			{Index: 2, Family: "grid", Mode: "offline", Variant: "lora"},
		},
		Timing: []RunTiming{
			// EVA 1 s of 1 + 9: 10 %; the pass 0.5 s: 5 %.
			{Index: 0, EVASeconds: 1, TrainSeconds: 9, WallSeconds: 12, EVAPassSeconds: 0.5},
			// EVA 2 s of 2 + 18: 10 % again; no pass time recorded (an older run).
			{Index: 1, EVASeconds: 2, TrainSeconds: 18, WallSeconds: 24},
			{Index: 2, TrainSeconds: 8, WallSeconds: 9},
		},
	}
	md := timingMarkdown(nil, res)
	for _, want := range []string{
		"3 runs, 45 s of run time",
		"| grid | offline | eva | 2 | 18.0 s | 10.00 % | 5.00 % (1 runs) |",
		"| grid | offline | lora | 1 | 9.0 s | - | - |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("timing table lacks %q:\n%s", want, md)
		}
	}
}
