package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/evarl/evarl/replay"
)

// writeTaskStats prints one row per task: episodes, transitions, return statistics
// and success rate.
func writeTaskStats(out io.Writer, stats []replay.TaskStats) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tENV\tEPISODES\tTRANSITIONS\tRETURN MEAN\tRETURN STD\tRETURN MIN\tRETURN MAX\tSUCCESS")
	for _, s := range stats {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f%%\n", s.Task, s.EnvID, s.Episodes, s.Transitions,
			s.ReturnMean, s.ReturnStd, s.ReturnMin, s.ReturnMax, 100*s.SuccessRate)
	}
	return w.Flush()
}
