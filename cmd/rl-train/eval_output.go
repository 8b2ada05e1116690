package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/replay"
)

// File names written by `rl-train eval --out DIR`.
const (
	evalResultsJSON = "results.json"
	evalResultsMD   = "results.md"
)

// evalReport is results.json of `rl-train eval`: what was evaluated, how, and the
// results per task and target, with a summary per target. Undefined normalised
// scores (no reference) are null.
type evalReport struct {
	Label       string    `json:"label"`
	Checkpoint  string    `json:"checkpoint"`
	Adapter     string    `json:"adapter,omitempty"`
	Tasks       string    `json:"tasks"`
	Episodes    int       `json:"episodes"`
	Targets     []float64 `json:"targets"`
	Greedy      bool      `json:"greedy"`
	Seed        int64     `json:"seed"`
	RefEpisodes int       `json:"ref_episodes"`

	Summary []evalTargetSummary `json:"summary"`
	Results []evalResultJSON    `json:"results"`
}

// evalTargetSummary averages the tasks' results at one target return.
type evalTargetSummary struct {
	Target         float64  `json:"target_return"`
	MeanReturn     float64  `json:"mean_return"`
	MeanNormalized *float64 `json:"mean_normalized_score"`
	SuccessRate    float64  `json:"success_rate"`
	Episodes       int      `json:"episodes"`
}

// evalResultJSON is an agents.EvalResult whose normalised score may be null, with the
// reference returns it was computed from.
type evalResultJSON struct {
	agents.EvalResult
	Normalized *float64          `json:"normalized_score"` // shadows EvalResult.Normalized
	Reference  *agents.Reference `json:"reference,omitempty"`
}

// optFloat returns &x, or nil for NaN and ±Inf (which JSON cannot hold).
func optFloat(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func newEvalReport(cfg evalCmdConfig, results []agents.EvalResult, refs map[string]agents.Reference) *evalReport {
	rep := &evalReport{Label: cfg.label(), Checkpoint: cfg.Checkpoint, Adapter: cfg.Adapter, Tasks: cfg.Tasks, Episodes: cfg.Episodes,
		Targets: cfg.Targets, Greedy: cfg.Greedy, Seed: cfg.Seed, RefEpisodes: cfg.RefEpisodes}
	for _, t := range cfg.Targets {
		s := agents.Summarize(firstTarget(results, t))
		rep.Summary = append(rep.Summary, evalTargetSummary{Target: t, MeanReturn: s.MeanReturn,
			MeanNormalized: optFloat(s.MeanNormalized), SuccessRate: s.SuccessRate, Episodes: s.Episodes})
	}
	for _, r := range results {
		row := evalResultJSON{EvalResult: r, Normalized: optFloat(r.Normalized)}
		if ref, ok := refs[r.TaskID]; ok {
			row.Reference = &ref
		}
		rep.Results = append(rep.Results, row)
	}
	return rep
}

// fmtOpt formats a possibly undefined number, "-" when undefined.
func fmtOpt(format string, x *float64) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf(format, *x)
}

// mdCell escapes the pipes of a name put in a Markdown table.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// markdown renders the report: one row per task and target, then the mean over tasks
// of each target.
func (r *evalReport) markdown() string {
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

// write puts results.json and results.md into dir.
func (r *evalReport) write(dir, md string) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, evalResultsJSON), r); err != nil {
		return err
	}
	return metrics.WriteFileAtomic(filepath.Join(dir, evalResultsMD), []byte(md))
}

// taskFileName turns a task id into a file name: characters other than letters, digits,
// '.', '-' and '_' become '_' ("gridworld/heldout-00" → "gridworld_heldout-00").
func taskFileName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, id)
}

// recordAndRender writes each task's episodes (all targets, in target order) to
// <record>/<task>.evds, and draws the first render_episodes of each target into
// <render>/<task>.gif. Without --record the replay files go to a temporary directory.
func recordAndRender(ctx context.Context, a *app, cfg evalCmdConfig, results []agents.EvalResult) error {
	dir := cfg.Record
	if dir == "" {
		tmp, err := os.MkdirTemp("", "evarl-eval-*")
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := ensureDir(dir); err != nil {
		return err
	}
	nt := len(cfg.Targets)
	for i := 0; i < len(results); i += nt {
		task := results[i].TaskID
		path := filepath.Join(dir, taskFileName(task)+".evds")
		if err := writeEpisodes(path, cfg.label(), results[i:i+nt]); err != nil {
			return err
		}
		if cfg.Record != "" {
			a.log.WithFields(map[string]any{"task": task, "file": path, "episodes": nt * cfg.Episodes}).Info("recorded")
		}
		if cfg.Render == "" {
			continue
		}
		if err := ensureDir(cfg.Render); err != nil {
			return err
		}
		var idx []int
		for k := 0; k < nt; k++ {
			for j := 0; j < min(cfg.RenderEpisodes, cfg.Episodes); j++ {
				idx = append(idx, k*cfg.Episodes+j)
			}
		}
		gif := filepath.Join(cfg.Render, taskFileName(task)+".gif")
		// Keep stdout for the table: the renderer's progress lines go to stderr.
		ra := *a
		ra.stdout = a.stderr
		if err := ra.renderReplay(ctx, path, gif, renderFlags{episodes: idx, fps: 30, scale: 1}); err != nil {
			return fmt.Errorf("eval: render %s: %w", task, err)
		}
	}
	return nil
}

// writeEpisodes writes the recorded episodes of one task's results to path (replacing
// an existing file atomically). Each episode's Source names the policy and the target
// return it was conditioned on.
func writeEpisodes(path, label string, results []agents.EvalResult) error {
	var eps []*replay.Episode
	for _, res := range results {
		for _, ep := range res.Episodes {
			ep.Source = fmt.Sprintf("eval %s target=%g", label, res.Target)
			eps = append(eps, ep)
		}
	}
	if err := replay.WriteFile(path, eps, &replay.WriteOptions{Compress: true}); err != nil {
		return fmt.Errorf("eval: record: %w", err)
	}
	return nil
}
