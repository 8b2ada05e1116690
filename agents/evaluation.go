package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/evarl/evarl/internal/atomicfile"
)

// Evaluation is a recorded evaluation of one policy — what was evaluated, how, and
// the results per task and target with a summary per target — as `rl-train eval
// --out` writes it (results.json) and `rl-train eval-merge` reads it. Undefined
// normalised scores (no reference) are null in the file.
type Evaluation struct {
	Label       string    `json:"label"`
	Checkpoint  string    `json:"checkpoint"`
	Adapter     string    `json:"adapter,omitempty"`
	Tasks       string    `json:"tasks"`
	Episodes    int       `json:"episodes"`
	Targets     []float64 `json:"targets"`
	Greedy      bool      `json:"greedy"`
	Seed        int64     `json:"seed"`
	RefEpisodes int       `json:"ref_episodes"`

	Summary []TargetSummary    `json:"summary"`
	Results []EvaluationResult `json:"results"`
}

// TargetSummary averages the tasks' results at one target return.
type TargetSummary struct {
	Target         float64  `json:"target_return"`
	MeanReturn     float64  `json:"mean_return"`
	MeanNormalized *float64 `json:"mean_normalized_score"`
	SuccessRate    float64  `json:"success_rate"`
	Episodes       int      `json:"episodes"`
}

// EvaluationResult is an EvalResult whose normalised score may be null, with the
// reference returns it was computed from.
type EvaluationResult struct {
	EvalResult
	Normalized *float64   `json:"normalized_score"` // shadows EvalResult.Normalized
	Reference  *Reference `json:"reference,omitempty"`
}

// EvaluationFiles are the names Evaluation.Write uses.
const (
	EvaluationJSON = "results.json"
	EvaluationMD   = "results.md"
)

// NewEvaluation assembles the record of an evaluation (ev holds the label, paths,
// tasks and settings; its Summary and Results are filled from results).
func NewEvaluation(ev Evaluation, results []EvalResult, refs map[string]Reference) *Evaluation {
	out := ev
	out.Summary, out.Results = nil, nil
	for _, t := range ev.Targets {
		var at []EvalResult
		for _, r := range results {
			if r.Target == t {
				at = append(at, r)
			}
		}
		s := Summarize(at)
		out.Summary = append(out.Summary, TargetSummary{Target: t, MeanReturn: s.MeanReturn,
			MeanNormalized: optFloat(s.MeanNormalized), SuccessRate: s.SuccessRate, Episodes: s.Episodes})
	}
	for _, r := range results {
		row := EvaluationResult{EvalResult: r, Normalized: optFloat(r.Normalized)}
		if ref, ok := refs[r.TaskID]; ok {
			row.Reference = &ref
		}
		out.Results = append(out.Results, row)
	}
	return &out
}

// optFloat returns &x, or nil for NaN and ±Inf (which JSON cannot hold).
func optFloat(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func fmtOpt(format string, x *float64) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf(format, *x)
}

// mdCell escapes the pipes of a name put in a Markdown table.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Markdown renders the evaluation: one row per task and target, then the mean over
// tasks of each target.
func (r *Evaluation) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s on %s\n\n", mdCell(r.Label), mdCell(r.Tasks))
	actions := "greedy"
	if !r.Greedy {
		actions = "sampled"
	}
	fmt.Fprintf(&b, "%d episodes per task and target (seeds %d–%d), %s actions.", r.Episodes, r.Seed, r.Seed+int64(r.Episodes)-1, actions)
	if r.RefEpisodes > 0 {
		fmt.Fprintf(&b, " Normalised score: random play = 0, scripted expert = 100 (%d episodes each, same seeds).", r.RefEpisodes)
	}
	b.WriteString("\n\n| task | target | return (mean ± std) | 95 % CI | success | length | normalised | random | expert |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, res := range r.Results {
		rnd, exp := "-", "-"
		if res.Reference != nil {
			rnd, exp = fmt.Sprintf("%.4g", res.Reference.Random), fmt.Sprintf("%.4g", res.Reference.Expert)
		}
		fmt.Fprintf(&b, "| %s | %g | %.4g ± %.4g | ± %.4g | %.2f | %.1f | %s | %s | %s |\n", res.TaskID, res.Target, res.Mean, res.Std,
			res.CI95, res.SuccessRate, res.MeanLength, fmtOpt("%.1f", res.Normalized), rnd, exp)
	}
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "| **mean** | %g | %.4g | | %.2f | | %s | | |\n", s.Target, s.MeanReturn, s.SuccessRate, fmtOpt("%.1f", s.MeanNormalized))
	}
	return b.String()
}

// Write puts results.json and results.md into dir, each atomically.
func (r *Evaluation) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, EvaluationJSON), append(data, '\n')); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, EvaluationMD), []byte(r.Markdown()))
}

// ReadEvaluation reads a results.json that Evaluation.Write wrote, strictly.
func ReadEvaluation(path string) (*Evaluation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Evaluation
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w (want a results.json written by rl-train eval --out)", path, err)
	}
	if r.Label == "" || len(r.Summary) == 0 {
		return nil, errors.New(path + ": no label or summary; want a results.json written by rl-train eval --out")
	}
	return &r, nil
}

// MergeEvaluations renders one Markdown table with a row per evaluation and target:
// the mean over tasks of the normalised score, the success rate and the return.
func MergeEvaluations(evals []*Evaluation) string {
	var b strings.Builder
	b.WriteString("| policy | tasks | target | episodes | normalised score | success | return |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range evals {
		for _, s := range r.Summary {
			fmt.Fprintf(&b, "| %s | %s | %g | %d | %s | %.2f | %.4g |\n", mdCell(r.Label), mdCell(r.Tasks), s.Target, s.Episodes,
				fmtOpt("%.1f", s.MeanNormalized), s.SuccessRate, s.MeanReturn)
		}
	}
	return b.String()
}
