package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/internal/progress"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/replay"
)

// evalSection configures the evaluations a training run makes.
type evalSection struct {
	Every       int       `yaml:"every"`        // updates between evaluations (0: only before and after training)
	Episodes    int       `yaml:"episodes"`     // episodes per task during training
	Final       int       `yaml:"final"`        // episodes per task in the final evaluation
	NumEnvs     int       `yaml:"num_envs"`     // environments acted on in one batch
	Targets     []float64 `yaml:"targets"`      // target returns; the first one scores checkpoints
	Greedy      bool      `yaml:"greedy"`       // take the most likely action (else sample)
	Seed        int64     `yaml:"seed"`         // episode j resets with seed + j
	RefEpisodes int       `yaml:"ref_episodes"` // episodes of the scripted expert and of random play per task, for normalised scores
}

func defaultEvalSection() evalSection {
	return evalSection{Every: 0, Episodes: 5, Final: 20, NumEnvs: 16, Greedy: true, Seed: 1000, RefEpisodes: 10}
}

func (e evalSection) validate() error {
	switch {
	case e.Every < 0:
		return fmt.Errorf("eval.every = %d, want ≥ 0", e.Every)
	case e.Episodes <= 0 || e.Final <= 0:
		return fmt.Errorf("eval.episodes = %d and eval.final = %d, want both > 0", e.Episodes, e.Final)
	case e.NumEnvs <= 0:
		return fmt.Errorf("eval.num_envs = %d, want > 0", e.NumEnvs)
	case len(e.Targets) == 0:
		return fmt.Errorf("eval.targets is empty, want at least one target return")
	case e.RefEpisodes <= 0:
		return fmt.Errorf("eval.ref_episodes = %d, want > 0", e.RefEpisodes)
	}
	for i, t := range e.Targets {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("eval.targets[%d] = %v, want a finite number", i, t)
		}
	}
	return nil
}

func (e evalSection) config(episodes int, refs map[string]agents.Reference) agents.EvalConfig {
	return agents.EvalConfig{Episodes: episodes, Targets: e.Targets, NumEnvs: e.NumEnvs, Seed: e.Seed, Greedy: e.Greedy, References: refs}
}

// selectGemm picks the BLAS backend (EVARL_BLAS or the config's choice) and logs it.
func (a *app) selectGemm(choice string) (nn.Gemm, error) {
	if choice == "" || choice == nn.BLASAuto {
		return nn.DefaultGemm(a.log)
	}
	sel, err := nn.SelectGemm(choice)
	if err != nil {
		return nil, err
	}
	a.log.WithFields(sel.Fields()).Info("blas")
	return sel.Gemm, nil
}

// loadEpisodes reads dataset files and checks that every episode belongs to one of
// the allowed environment ids (when allowed is not empty).
func loadEpisodes(paths []string, allowed map[string]bool) ([]*replay.Episode, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no dataset files given")
	}
	var eps []*replay.Episode
	for _, p := range paths {
		d, err := replay.Open(p, replay.Options{})
		if err != nil {
			return nil, err
		}
		for i, ep := range d.Episodes {
			if len(allowed) > 0 && !allowed[ep.EnvID] {
				return nil, fmt.Errorf("dataset %s: episode %d is from environment %s, but the run's tasks use %v", p, i, ep.EnvID, keys(allowed))
			}
		}
		if len(eps) > 0 && (d.ObsDim != eps[0].ObsDim || d.ActDim != eps[0].ActDim) {
			return nil, fmt.Errorf("dataset %s: observation/action sizes %d/%d differ from %s's %d/%d", p, d.ObsDim, d.ActDim, paths[0], eps[0].ObsDim, eps[0].ActDim)
		}
		eps = append(eps, d.Episodes...)
	}
	return eps, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// envIDs returns the set of environment ids of tasks.
func envIDs(tasks []envs.Task) map[string]bool {
	ids := map[string]bool{}
	for _, t := range tasks {
		ids[t.EnvID] = true
	}
	return ids
}

// newProgress returns the progress reporter of a training run.
func (a *app) newProgress(name string, total int) progress.Reporter {
	return progress.New(a.stderr, a.log, name, "updates", total, 10*time.Second)
}

// learningCurves draws the run's metrics as a PNG beside them.
func learningCurves(path, title string, rows []metrics.Row) error {
	return metrics.PlotPNG(path, title, rows, []metrics.Panel{
		{Title: "evaluation score", Keys: []string{"eval/score"}, YLabel: "normalised score"},
		{Title: "success rate", Keys: []string{"eval/success_rate"}, YLabel: "success"},
		{Title: "training loss", Keys: []string{"train/loss"}, YLabel: "loss"},
	})
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return metrics.WriteFileAtomic(path, append(data, '\n'))
}

// evalRow turns an evaluation into metric values.
func evalRow(results []agents.EvalResult) (agents.Summary, map[string]float64) {
	s := agents.Summarize(results)
	return s, map[string]float64{"eval/return": s.MeanReturn, "eval/normalized": s.MeanNormalized, "eval/success_rate": s.SuccessRate}
}

// score is the number that ranks checkpoints: the mean normalised score when every
// task has a reference, else the mean return.
func score(s agents.Summary) float64 {
	if math.IsNaN(s.MeanNormalized) {
		return s.MeanReturn
	}
	return s.MeanNormalized
}

// ensureDir creates dir (and parents).
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

// replaceDir moves a fully written temporary directory into place, so a checkpoint
// directory is always complete: the old one is removed only after the new one exists.
func replaceDir(tmp, dir string) error {
	old := dir + ".old"
	_ = os.RemoveAll(old)
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replace %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	return os.RemoveAll(old)
}

// logFields of a summary, for the log line of an evaluation.
func summaryFields(s agents.Summary) logrus.Fields {
	return logrus.Fields{"mean_return": fmt.Sprintf("%.4g", s.MeanReturn), "normalized": fmt.Sprintf("%.1f", s.MeanNormalized),
		"success_rate": fmt.Sprintf("%.3f", s.SuccessRate), "episodes": s.Episodes}
}

// resultsMarkdown renders evaluation results as Markdown tables, one per group.
func resultsMarkdown(groups map[string][]agents.EvalResult, refs map[string]agents.Reference) string {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		res := groups[name]
		fmt.Fprintf(&b, "\n### %s tasks\n\n", name)
		b.WriteString("| task | target | return (mean ± std) | 95 % CI | success | length | normalised | random | expert |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range res {
			ref, ok := refs[r.TaskID]
			rnd, exp := "-", "-"
			if ok {
				rnd, exp = fmt.Sprintf("%.3g", ref.Random), fmt.Sprintf("%.3g", ref.Expert)
			}
			fmt.Fprintf(&b, "| %s | %g | %.3g ± %.3g | ± %.3g | %.2f | %.1f | %.1f | %s | %s |\n",
				r.TaskID, r.Target, r.Mean, r.Std, r.CI95, r.SuccessRate, r.MeanLength, r.Normalized, rnd, exp)
		}
		s := agents.Summarize(res)
		fmt.Fprintf(&b, "| **mean** | | %.3g | | %.2f | | %.1f | | |\n", s.MeanReturn, s.SuccessRate, s.MeanNormalized)
	}
	return b.String()
}
