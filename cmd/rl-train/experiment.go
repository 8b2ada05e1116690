package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	gstat "gonum.org/v1/gonum/stat"
	"gopkg.in/yaml.v3"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/internal/metrics"
)

func init() { subcommands = append(subcommands, newExperimentCmd) }

// experimentConfig configures `rl-train experiment` (configs/experiments/*.yaml): a
// comparison of fine-tuning methods over families, modes and seeds.
type experimentConfig struct {
	OutDir   string             `yaml:"out_dir"`  // results.md, results.json and learning curves
	RunsDir  string             `yaml:"runs_dir"` // one run directory per (family, mode, variant, seed)
	Seeds    []uint64           `yaml:"seeds"`    // every variant runs once per seed
	Modes    []string           `yaml:"modes"`    // offline and/or online
	Variants []experimentMethod `yaml:"variants"` // the methods compared
	Families []experimentFamily `yaml:"families"` // the task families and their fine-tuning settings
}

// experimentMethod is one compared method: a fine-tuning method and, for EVA, rho.
type experimentMethod struct {
	Name   string  `yaml:"name"`   // label in the tables, e.g. eva-rho2
	Method string  `yaml:"method"` // full, lora, pissa, olora or eva
	Rho    float64 `yaml:"rho"`    // EVA's rho (eva only; 0 keeps the family's)
}

// experimentFamily holds a family's data collection and fine-tuning settings; method,
// mode, seed and run_dir are set per run.
type experimentFamily struct {
	Name     string         `yaml:"name"`
	Modes    []string       `yaml:"modes"` // overrides the experiment's modes (e.g. offline only for a deterministic policy)
	Collect  collectConfig  `yaml:"collect"`
	Finetune finetuneConfig `yaml:"finetune"`
}

// UnmarshalYAML fills a family with the collect and finetune defaults before the
// file's keys, as top-level configs are filled, and keeps unknown keys errors.
func (f *experimentFamily) UnmarshalYAML(node *yaml.Node) error {
	type plain experimentFamily
	p := plain{Collect: defaultCollectConfig(), Finetune: defaultFinetuneConfig()}
	data, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("family at line %d: %w", node.Line, err)
	}
	*f = experimentFamily(p)
	return nil
}

// experimentRun is one run's line in results.json (the full results stay in each
// run directory).
type experimentRun struct {
	Family    string         `json:"family"`
	Mode      string         `json:"mode"`
	Variant   string         `json:"variant"`
	Seed      uint64         `json:"seed"`
	Before    agents.Summary `json:"before"`
	After     agents.Summary `json:"after"`
	Trainable int            `json:"trainable_params"`
	StepsTo90 int            `json:"steps_to_90pct"`
	EVAShare  float64        `json:"eva_share"`
	Ranks     map[string]int `json:"ranks,omitempty"`
}

func experimentSummary(rows []experimentRow) []experimentRun {
	out := make([]experimentRun, len(rows))
	for i, r := range rows {
		out[i] = experimentRun{Family: r.Family, Mode: r.Mode, Variant: r.Variant, Seed: r.Result.Seed, Before: r.Result.Before,
			After: r.Result.After, Trainable: r.Result.Trainable, StepsTo90: r.Result.StepsTo90, EVAShare: r.Result.EVAShare, Ranks: r.Result.Ranks}
	}
	return out
}

// modes are the family's own modes, or the experiment's.
func (f experimentFamily) modes(all []string) []string {
	if len(f.Modes) > 0 {
		return f.Modes
	}
	return all
}

// experimentRow is the outcome of one run.
type experimentRow struct {
	Family, Mode, Variant string
	Result                *finetuneResult
	Curve                 []metrics.Row
}

func newExperimentCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "experiment CONFIG",
		Short: "Compare fine-tuning methods over families, modes and seeds; write a results table and curves",
		Long: `Run every (family, mode, variant, seed) of CONFIG (configs/experiments/*.yaml) with
rl-train finetune, then write out_dir/results.md (mean ± std over seeds of the final
normalised score and success rate, trainable parameters, updates to reach 90 % of
the final score, the EVA pass's share of wall time), results.json, and one
learning-curve PNG per family and mode. Runs whose results.json exists are reused,
so an interrupted comparison continues where it stopped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg experimentConfig
			if err := config.Load(args[0], &cfg); err != nil {
				return err
			}
			return runExperiment(cmd.Context(), a, cfg)
		},
	}
}

func (c *experimentConfig) validate() error {
	switch {
	case c.OutDir == "" || c.RunsDir == "":
		return fmt.Errorf("experiment: out_dir and runs_dir must be set")
	case len(c.Seeds) == 0 || len(c.Modes) == 0 || len(c.Variants) == 0 || len(c.Families) == 0:
		return fmt.Errorf("experiment: seeds, modes, variants and families must each list at least one entry")
	}
	modes := append([]string(nil), c.Modes...)
	for _, f := range c.Families {
		modes = append(modes, f.Modes...)
	}
	for _, m := range modes {
		if m != ModeOffline && m != ModeOnline {
			return fmt.Errorf("experiment: modes: %q, want %s or %s", m, ModeOffline, ModeOnline)
		}
	}
	for _, v := range c.Variants {
		if v.Name == "" {
			return fmt.Errorf("experiment: a variant has no name")
		}
		if v.Rho != 0 && (v.Method != MethodEVA || v.Rho < 1) {
			return fmt.Errorf("experiment: variant %s: rho %v applies to method eva only and must be ≥ 1", v.Name, v.Rho)
		}
	}
	return nil
}

func runExperiment(ctx context.Context, a *app, cfg experimentConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := ensureDir(cfg.OutDir); err != nil {
		return err
	}
	quiet := *a
	quiet.stdout = io.Discard
	total := 0
	for _, fam := range cfg.Families {
		total += len(fam.modes(cfg.Modes)) * len(cfg.Variants) * len(cfg.Seeds)
	}
	var rows []experimentRow
	n := 0
	for _, fam := range cfg.Families {
		if err := collectMissing(ctx, a, fam.Collect, fam.Finetune.Datasets); err != nil {
			return err
		}
		var before []agents.EvalResult // the base policy's evaluation, the same for every run of the family
		for _, mode := range fam.modes(cfg.Modes) {
			for _, v := range cfg.Variants {
				for _, seed := range cfg.Seeds {
					n++
					ft := fam.Finetune
					ft.Method, ft.Mode, ft.Seed = v.Method, mode, seed
					if v.Rho != 0 {
						ft.EVA.Rho = v.Rho
					}
					ft.RunDir = filepath.Join(cfg.RunsDir, fam.Name, mode, v.Name, fmt.Sprintf("seed%d", seed))
					ft.before = before
					a.log.WithFields(logrus.Fields{"run": fmt.Sprintf("%d/%d", n, total), "family": fam.Name, "mode": mode, "variant": v.Name, "seed": seed}).Info("experiment")
					res, err := cachedFinetune(ctx, &quiet, ft)
					if err != nil {
						return fmt.Errorf("experiment %s/%s/%s seed %d: %w", fam.Name, mode, v.Name, seed, err)
					}
					before = res.PerTask["before"]
					curve, _ := metrics.Read(filepath.Join(ft.RunDir, ft.Metrics))
					rows = append(rows, experimentRow{Family: fam.Name, Mode: mode, Variant: v.Name, Result: res, Curve: curve})
				}
			}
		}
	}
	if err := writeJSON(filepath.Join(cfg.OutDir, "results.json"), experimentSummary(rows)); err != nil {
		return err
	}
	md := experimentMarkdown(cfg, rows)
	if err := metrics.WriteFileAtomic(filepath.Join(cfg.OutDir, "results.md"), []byte(md)); err != nil {
		return err
	}
	for _, fam := range cfg.Families {
		for _, mode := range fam.modes(cfg.Modes) {
			path := filepath.Join(cfg.OutDir, fmt.Sprintf("curves_%s_%s.png", fam.Name, mode))
			if err := experimentCurves(path, fam.Name, mode, cfg.Variants, rows); err != nil {
				a.log.WithError(err).Warn("learning curves")
			}
		}
	}
	fmt.Fprint(a.stdout, md)
	return nil
}

// collectMissing collects a family's data when any fine-tuning dataset is missing.
func collectMissing(ctx context.Context, a *app, cfg collectConfig, datasets []string) error {
	for _, p := range datasets {
		if _, err := os.Stat(p); err != nil {
			a.log.WithField("missing", p).Info("collecting")
			return runCollect(ctx, a, cfg, false)
		}
	}
	return nil
}

// cachedFinetune reuses a finished run's results.json, or runs it (from scratch:
// a half-finished run directory is cleared first).
func cachedFinetune(ctx context.Context, a *app, ft finetuneConfig) (*finetuneResult, error) {
	var res finetuneResult
	if err := readJSON(filepath.Join(ft.RunDir, "results.json"), &res); err == nil {
		return &res, nil
	}
	if err := os.RemoveAll(ft.RunDir); err != nil {
		return nil, err
	}
	return runFinetune(ctx, a, ft, false)
}

type stat struct{ mean, std float64 }

// seedStat is the mean and sample standard deviation over seeds (NaN for none).
func seedStat(v []float64) stat {
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN()}
	}
	if len(v) == 1 {
		return stat{v[0], 0}
	}
	m, sd := gstat.MeanStdDev(v, nil)
	return stat{m, sd}
}

// experimentMarkdown renders one table per family and mode: one row per variant.
func experimentMarkdown(cfg experimentConfig, rows []experimentRow) string {
	var b strings.Builder
	var wall float64
	for _, r := range rows {
		wall += r.Result.WallSeconds
	}
	fmt.Fprintf(&b, "# Fine-tuning methods compared\n\nSeeds %v; mean ± std over seeds of the final evaluation (best checkpoint, greedy; normalised score: random 0, expert 100). %d runs, %s of wall time in all (the sum of the runs').\n",
		cfg.Seeds, len(rows), (time.Duration(wall) * time.Second).Round(time.Second))
	for _, fam := range cfg.Families {
		for _, mode := range fam.modes(cfg.Modes) {
			fmt.Fprintf(&b, "\n## %s, %s (%s)\n\n", fam.Name, mode, fam.Finetune.Tasks)
			b.WriteString("| method | before | after (normalised) | success | trainable params | updates to 90 % | EVA share of wall time |\n|---|---|---|---|---|---|---|\n")
			for _, v := range cfg.Variants {
				var before, after, success, to90, share []float64
				trainable := 0
				for _, r := range rows {
					if r.Family != fam.Name || r.Mode != mode || r.Variant != v.Name {
						continue
					}
					before = append(before, r.Result.Before.MeanNormalized)
					after = append(after, r.Result.After.MeanNormalized)
					success = append(success, r.Result.After.SuccessRate)
					to90 = append(to90, float64(r.Result.StepsTo90))
					share = append(share, r.Result.EVAShare)
					trainable = r.Result.Trainable
				}
				bs, as, ss, ts, es := seedStat(before), seedStat(after), seedStat(success), seedStat(to90), seedStat(share)
				evaShare := "-"
				if v.Method == MethodEVA {
					evaShare = fmt.Sprintf("%.1f %%", 100*es.mean)
				}
				fmt.Fprintf(&b, "| %s | %.1f | **%.1f ± %.1f** | %.2f ± %.2f | %d | %.0f ± %.0f | %s |\n",
					v.Name, bs.mean, as.mean, as.std, ss.mean, ss.std, trainable, ts.mean, ts.std, evaShare)
			}
			fmt.Fprintf(&b, "\n![learning curves](curves_%s_%s.png)\n", fam.Name, mode)
		}
	}
	return b.String()
}

// experimentCurves plots, per variant, the evaluation score averaged over seeds.
func experimentCurves(path, family, mode string, variants []experimentMethod, rows []experimentRow) error {
	var mean []metrics.Row
	var keys []string
	bySteps := map[int]map[string][]float64{}
	for _, v := range variants {
		keys = append(keys, v.Name)
		for _, r := range rows {
			if r.Family != family || r.Mode != mode || r.Variant != v.Name {
				continue
			}
			for _, m := range r.Curve {
				s, ok := m.Values["eval/score"]
				if !ok {
					continue
				}
				if bySteps[m.Step] == nil {
					bySteps[m.Step] = map[string][]float64{}
				}
				bySteps[m.Step][v.Name] = append(bySteps[m.Step][v.Name], s)
			}
		}
	}
	steps := make([]int, 0, len(bySteps))
	for s := range bySteps {
		steps = append(steps, s)
	}
	sort.Ints(steps)
	for _, s := range steps {
		row := metrics.Row{Step: s, Values: map[string]float64{}}
		for k, v := range bySteps[s] {
			row.Values[k] = seedStat(v).mean
		}
		mean = append(mean, row)
	}
	return metrics.PlotPNG(path, family+" "+mode, mean, []metrics.Panel{{Title: "normalised score (mean over seeds)", Keys: keys, YLabel: "score"}})
}
