package finetune

import (
	"fmt"
	"sort"
	"strings"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/internal/metrics"
)

// Files of a run directory.
const (
	BeforeFile   = "before.json"  // the base policy's test evaluation
	ResultsFile  = "results.json" // the Result
	EVAStateFile = "eva_state.safetensors"
	TimingFile   = "timing.json" // durations measured before training (the EVA pass)
)

// ResumableFields are the config fields that may differ between a run and its
// resumption: the step budget (and the schedule's horizon that follows it). Any
// other change would make the resumed run something no uninterrupted run is.
var ResumableFields = []string{"train.steps", "train.schedule.total_steps", "online.iterations", "log_every"}

// ReadResult reads a run's results.json.
func ReadResult(runDir string) (*Result, error) {
	var r Result
	if err := (agents.RunDir{Path: runDir}).ReadJSON(ResultsFile, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// LearningCurves draws a run's metrics as a PNG: validation score, success rate and
// training loss against updates.
func LearningCurves(path, title string, rows []metrics.Row) error {
	return metrics.PlotPNG(path, title, rows, []metrics.Panel{
		{Title: "validation score", Keys: []string{agents.MetricEvalScore}, YLabel: "normalised score"},
		{Title: "validation success rate", Keys: []string{agents.MetricEvalSuccess}, YLabel: "success"},
		{Title: "training loss", Keys: []string{agents.MetricTrainLoss}, YLabel: "loss"},
	})
}

// ResultsMarkdown renders evaluation results as Markdown tables, one per group.
func ResultsMarkdown(groups map[string][]agents.EvalResult, refs map[string]agents.Reference) string {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		res := groups[name]
		fmt.Fprintf(&b, "\n### %s\n\n", name)
		b.WriteString("| task | target | episodes | return (mean ± std) | 95 % CI | success | length | normalised | random | expert |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range res {
			ref, ok := refs[r.TaskID]
			rnd, exp := "-", "-"
			if ok {
				rnd, exp = fmt.Sprintf("%.3g", ref.Random), fmt.Sprintf("%.3g", ref.Expert)
			}
			fmt.Fprintf(&b, "| %s | %g | %d | %.3g ± %.3g | ± %.3g | %.2f | %.1f | %.1f | %s | %s |\n",
				r.TaskID, r.Target, r.Count, r.Mean, r.Std, r.CI95, r.SuccessRate, r.MeanLength, r.Normalized, rnd, exp)
		}
		s := agents.Summarize(res)
		fmt.Fprintf(&b, "| **mean** | | %d | %.3g | | %.2f | | %.1f | | |\n", s.Episodes, s.MeanReturn, s.SuccessRate, s.MeanNormalized)
	}
	return b.String()
}
