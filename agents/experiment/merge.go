package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/agents/stats"
	"github.com/evarl/evarl/internal/atomicfile"
)

// RunResult is one run's numbers in results.json: every per-task test score of the
// base, the validation-selected ("best") and the last checkpoint, so that anyone can
// recompute the tables.
type RunResult struct {
	Index   int    `json:"index"`
	Family  string `json:"family"`
	Task    string `json:"task"`
	Mode    string `json:"mode"`
	Variant string `json:"variant"`
	Seed    uint64 `json:"seed"`
	Key     string `json:"key"`
	// Test scores (normalised, first target) and success rates.
	Before      float64 `json:"before"`
	Best        float64 `json:"best"`
	Last        float64 `json:"last"`
	BestSuccess float64 `json:"best_success"`
	LastSuccess float64 `json:"last_success"`
	// Validation is the best validation score (what selected "best"), BestStep where.
	Validation float64 `json:"validation"`
	BestStep   int     `json:"best_step"`
	// StepsTo90 is the first update whose validation score covers 90 % of the way
	// from the first to the last validation score.
	StepsTo90 int                   `json:"steps_to_90pct"`
	Trainable int                   `json:"trainable_params"`
	Curve     []finetune.CurvePoint `json:"curve"`
	Ranks     map[string]int        `json:"ranks,omitempty"`
}

// RunTiming is one run's durations (timing.json): kept apart from the results, which
// are the same bit for bit wherever the runs execute, while durations are not.
type RunTiming struct {
	Index        int     `json:"index"`
	EVASeconds   float64 `json:"eva_seconds"`
	TrainSeconds float64 `json:"train_seconds"`
	WallSeconds  float64 `json:"wall_seconds"`
	// EVAPassSeconds is the pass alone, without the rollouts it reads (0 for runs
	// that did not record it apart: those before it was measured, and other methods).
	EVAPassSeconds float64 `json:"eva_pass_seconds,omitempty"`
}

// Aggregate is one variant's aggregate over a group's tasks × seeds.
type Aggregate struct {
	Variant string `json:"variant"`
	Runs    int    `json:"runs"` // seeds per task
	// IQM and Mean of the best and last checkpoints' test scores, with
	// stratified-bootstrap intervals.
	BestIQM  stats.Estimate `json:"best_iqm"`
	BestMean stats.Estimate `json:"best_mean"`
	LastIQM  stats.Estimate `json:"last_iqm"`
	LastMean stats.Estimate `json:"last_mean"`
	// Success rates, mean over runs × tasks.
	BestSuccess float64 `json:"best_success"`
	LastSuccess float64 `json:"last_success"`
	Trainable   int     `json:"trainable_params"`
	// StepsTo90 is the median over runs of the sample-efficiency measure.
	StepsTo90 float64 `json:"steps_to_90pct_median"`
	// PerTask is the mean best test score of each task over seeds.
	PerTask []float64 `json:"per_task"`
}

// Group is one family and mode: its tasks, every variant's aggregate, the
// probability of improvement of each variant over each other (best checkpoints).
type Group struct {
	Family      string             `json:"family"`
	Mode        string             `json:"mode"`
	Tasks       []string           `json:"tasks"`
	Before      []float64          `json:"before"` // the base's test score per task
	Aggregates  []Aggregate        `json:"aggregates"`
	Improvement [][]stats.Estimate `json:"-"`
	// PImprove[i][j] is P(variant i > variant j) with its interval (i ≠ j).
	PImprove []ImprovementRow `json:"probability_of_improvement"`
	// Missing names the variants left out of the aggregate for missing runs.
	Missing []string `json:"missing,omitempty"`
}

// ImprovementRow is P(X > Y) of one pair.
type ImprovementRow struct {
	X, Y string
	P    stats.Estimate
}

// Results is results.json.
type Results struct {
	Seeds  []uint64    `json:"seeds"`
	Runs   []RunResult `json:"runs"`
	Groups []Group     `json:"groups"`
	// OnlineGains compares each online variant with its offline counterpart.
	OnlineGains []OnlineGain `json:"online_vs_offline,omitempty"`
	// Failed lists runs without a result: status, error and log files (Describe).
	Failed []string `json:"failed,omitempty"`
	// Timing holds the runs' durations, written to timing.json and timing.md, not
	// to results.json and results.md.
	Timing []RunTiming `json:"-"`
}

// LRChoice is what a learning-rate sweep chose (lr_choice.json), on validation
// scores only.
type LRChoice struct {
	Chosen []LRChosen `json:"chosen"`
}

// LRChosen is one variant's chosen rate and the mean validation score of every rate.
type LRChosen struct {
	Family     string             `json:"family"`
	Mode       string             `json:"mode"`
	Variant    string             `json:"variant"`
	LR         float64            `json:"lr"`
	Candidates map[string]float64 `json:"validation_by_lr"`
}

// Merge reads every run's results and writes out_dir/results.json, results.md and
// the figures (learning curves with interval bands, performance profiles,
// probability of improvement, aggregate intervals); for a sweep also lr_choice.json.
// Runs without results are named (with their logs) in the tables and results.json,
// and their variants left out of the aggregates of their group.
func Merge(p *Plan) (*Results, error) {
	cfg := p.Config
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	res := &Results{Seeds: cfg.Seeds}
	for _, r := range p.Runs {
		fr, err := finetune.ReadResult(r.Dir)
		if err != nil || Status(r) != StatusDone {
			res.Failed = append(res.Failed, p.Describe(r))
			continue
		}
		res.Runs = append(res.Runs, runResult(r, fr))
		res.Timing = append(res.Timing, RunTiming{Index: r.Index, EVASeconds: fr.EVASeconds, TrainSeconds: fr.TrainSeconds,
			WallSeconds: fr.WallSeconds, EVAPassSeconds: fr.PassSeconds})
	}
	rs := stats.Stratified(rand.New(rand.NewPCG(0, 0x5eed)))
	scfg := cfg.Stats
	if scfg.Reps == 0 {
		scfg = stats.DefaultConfig()
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# %s\n\n", title(cfg))
	fmt.Fprintf(&md, "Seeds %v per method, task and mode; test scores (normalised: random 0, scripted expert 100) on %d test episodes per task "+
		"reset from seeds disjoint from the training and validation streams. Aggregates over tasks × seeds: interquartile mean (IQM) "+
		"and mean with 95 %% stratified-bootstrap intervals (%d replicates), as rliable computes them. \"best\" is the checkpoint the "+
		"validation episodes selected, \"last\" the final one. %d runs; their durations are in timing.md.\n",
		cfg.Seeds, testEpisodes(cfg), scfg.Reps, len(res.Runs))
	if len(res.Failed) > 0 {
		fmt.Fprintf(&md, "\n**%d runs have no result**:\n\n", len(res.Failed))
		for _, f := range res.Failed {
			fmt.Fprintf(&md, "- %s\n", f)
		}
	}
	for _, fam := range cfg.Families {
		for _, mode := range fam.modes(cfg.Modes) {
			g, err := p.group(fam.Name, mode, res.Runs, scfg, rs)
			if err != nil {
				return nil, err
			}
			res.Groups = append(res.Groups, *g)
			figs, err := p.figures(g, res.Runs, scfg, rs)
			if err != nil {
				return nil, err
			}
			md.WriteString(groupMarkdown(p, g, figs))
		}
	}
	gains, err := p.onlineGains(res.Runs, scfg, rs)
	if err != nil {
		return nil, err
	}
	res.OnlineGains = gains
	md.WriteString(gainsMarkdown(gains))
	if cfg.IsSweep() {
		choice := p.chooseLR(res.Runs)
		data, _ := json.MarshalIndent(choice, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(cfg.OutDir, "lr_choice.json"), append(data, '\n')); err != nil {
			return nil, err
		}
		md.WriteString(sweepMarkdown(choice))
	}
	data, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(cfg.OutDir, "results.json"), append(data, '\n')); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(cfg.OutDir, "results.md"), []byte(md.String())); err != nil {
		return nil, err
	}
	if data, err = json.MarshalIndent(res.Timing, "", " "); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(cfg.OutDir, "timing.json"), append(data, '\n')); err != nil {
		return nil, err
	}
	return res, atomicfile.WriteFile(filepath.Join(cfg.OutDir, "timing.md"), []byte(timingMarkdown(p, res)))
}

// OnlineGain is one variant's online runs against their offline counterparts: the
// runs of the same variant, task and seed fine-tuned offline only (Family.OfflineFrom).
// Pairing by seed makes the difference paired: both runs share the adapter
// initialisation and the offline phase's data.
type OnlineGain struct {
	Family        string   `json:"family"`
	OfflineFamily string   `json:"offline_family"`
	Variant       string   `json:"variant"`
	Tasks         []string `json:"tasks"`
	Runs          int      `json:"runs"` // seeds per task
	// Mean best test scores over tasks × seeds, and the mean of the paired
	// differences online − offline, with stratified-bootstrap intervals.
	Offline stats.Estimate `json:"offline_mean"`
	Online  stats.Estimate `json:"online_mean"`
	Gain    stats.Estimate `json:"gain_mean"`
	// PImprove is P(online > offline) with its interval.
	PImprove stats.Estimate `json:"probability_of_improvement"`
}

// onlineGains pairs every online run with its offline counterpart, per family and
// variant; variants with a missing run on either side are left out.
func (p *Plan) onlineGains(runs []RunResult, scfg stats.Config, rs stats.Resampler) ([]OnlineGain, error) {
	var out []OnlineGain
	for _, fam := range p.Config.Families {
		modes := fam.modes(p.Config.Modes)
		from := fam.OfflineFrom
		if from == "" && slices.Contains(modes, finetune.ModeOffline) {
			from = fam.Name
		}
		if from == "" || !slices.Contains(modes, finetune.ModeOnline) {
			continue
		}
		var tasks []string
		for _, t := range p.Tasks[fam.Name] {
			tasks = append(tasks, t.ID)
		}
		type cell struct {
			seed uint64
			task string
		}
		for _, v := range p.Variants {
			offline := map[cell]float64{}
			online := map[cell]float64{}
			for _, r := range runs {
				switch {
				case r.Variant != v.Name:
				case r.Family == from && r.Mode == finetune.ModeOffline:
					offline[cell{r.Seed, r.Task}] = r.Best
				case r.Family == fam.Name && r.Mode == finetune.ModeOnline:
					online[cell{r.Seed, r.Task}] = r.Best
				}
			}
			var on, off, gain [][]float64
			complete := true
			for _, seed := range p.Config.Seeds {
				var a, b, d []float64
				for _, t := range tasks {
					x, ok1 := online[cell{seed, t}]
					y, ok2 := offline[cell{seed, t}]
					if !ok1 || !ok2 {
						complete = false
						break
					}
					a, b, d = append(a, x), append(b, y), append(d, x-y)
				}
				on, off, gain = append(on, a), append(off, b), append(gain, d)
			}
			if !complete || len(tasks) == 0 {
				continue
			}
			g := OnlineGain{Family: fam.Name, OfflineFamily: from, Variant: v.Name, Tasks: tasks, Runs: len(on)}
			so, err := stats.NewScores(on)
			if err != nil {
				return nil, err
			}
			sf, err := stats.NewScores(off)
			if err != nil {
				return nil, err
			}
			sd, err := stats.NewScores(gain)
			if err != nil {
				return nil, err
			}
			if len(on) >= 2 {
				var e []stats.Estimate
				for _, s := range []*stats.Scores{sf, so, sd} {
					est, err := stats.Bootstrap(s, scfg, rs, stats.Mean)
					if err != nil {
						return nil, err
					}
					e = append(e, est[0])
				}
				g.Offline, g.Online, g.Gain = e[0], e[1], e[2]
				if g.PImprove, err = stats.BootstrapImprovement(so, sf, scfg, rs); err != nil {
					return nil, err
				}
			} else {
				g.Offline, g.Online, g.Gain = point(stats.Mean(sf)), point(stats.Mean(so)), point(stats.Mean(sd))
				pi, err := stats.Improvement(so, sf)
				if err != nil {
					return nil, err
				}
				g.PImprove = point(pi)
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// gainsMarkdown renders the online-against-offline table ("" without online runs).
func gainsMarkdown(gains []OnlineGain) string {
	if len(gains) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Online against offline\n\nEach online run (the offline phase, then the online iterations) against the run of the same method, task and seed " +
		"fine-tuned offline only: mean best test score of each over tasks × seeds, the mean of the paired differences, " +
		"and the probability that an online run beats an offline one, with 95 % stratified-bootstrap intervals.\n\n")
	b.WriteString("| family (offline runs from) | method | tasks | offline only | offline → online | online − offline | P(online > offline) |\n|---|---|---|---|---|---|---|\n")
	for _, g := range gains {
		fmt.Fprintf(&b, "| %s (%s) | %s | %d | %s | %s | %s | %s |\n", g.Family, g.OfflineFamily, g.Variant, len(g.Tasks),
			g.Offline, g.Online, g.Gain, g.PImprove.Format(2))
	}
	return b.String()
}

// timingMarkdown tabulates the runs' durations per family, mode and variant: the
// sum of run wall times, runs per hour, and EVA's share (its rollouts and pass) of
// EVA + training, and the pass's alone where runs recorded it.
func timingMarkdown(p *Plan, res *Results) string {
	var b strings.Builder
	byIndex := map[int]RunTiming{}
	total := 0.0
	for _, t := range res.Timing {
		byIndex[t.Index] = t
		total += t.WallSeconds
	}
	fmt.Fprintf(&b, "# Run durations\n\n%d runs, %.0f s of run time in all (the sum of the runs' wall times; with W runs at once the experiment takes about 1/W of it).\n\n",
		len(res.Timing), total)
	b.WriteString("| family | mode | method | runs | mean wall time per run | EVA share (rollouts and pass) of EVA + training | the pass alone (runs that recorded it) |\n|---|---|---|---|---|---|---|\n")
	type key struct{ f, m, v string }
	type sums struct {
		runs, wall     float64
		share          float64 // of EVA + training, over all runs
		passRuns, pass float64 // the pass's share, over the runs that recorded it
	}
	var order []key
	agg := map[key]*sums{}
	for _, r := range res.Runs {
		k := key{r.Family, r.Mode, r.Variant}
		a, ok := agg[k]
		if !ok {
			a = &sums{}
			agg[k] = a
			order = append(order, k)
		}
		t := byIndex[r.Index]
		a.runs++
		a.wall += t.WallSeconds
		if both := t.EVASeconds + t.TrainSeconds; both > 0 {
			a.share += t.EVASeconds / both
			if t.EVAPassSeconds > 0 {
				a.pass += t.EVAPassSeconds / both
				a.passRuns++
			}
		}
	}
	for _, k := range order {
		a := agg[k]
		share, pass := "-", "-"
		if a.share > 0 {
			share = fmt.Sprintf("%.2f %%", 100*a.share/a.runs)
		}
		if a.passRuns > 0 {
			pass = fmt.Sprintf("%.2f %% (%.0f runs)", 100*a.pass/a.passRuns, a.passRuns)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.1f s | %s | %s |\n", k.f, k.m, k.v, a.runs, a.wall/a.runs, share, pass)
	}
	return b.String()
}

func title(cfg Config) string {
	if cfg.IsSweep() {
		return "Learning-rate sweep (validation seeds)"
	}
	return "Fine-tuning methods compared"
}

func testEpisodes(cfg Config) int {
	if len(cfg.Families) == 0 {
		return 0
	}
	return cfg.Families[0].Finetune.Eval.TestEpisodes
}

// runResult extracts one run's numbers.
func runResult(r Run, fr *finetune.Result) RunResult {
	out := RunResult{Index: r.Index, Family: r.Family, Task: r.Task, Mode: r.Mode, Variant: r.Variant, Seed: r.Seed, Key: r.Key,
		Before: score(fr.Before), Best: score(fr.After), Last: score(fr.Last), BestSuccess: fr.After.SuccessRate, LastSuccess: fr.Last.SuccessRate,
		BestStep: fr.BestStep, StepsTo90: fr.StepsTo90, Trainable: fr.Trainable, Curve: fr.Curve, Ranks: fr.Ranks, Validation: math.Inf(-1)}
	for _, c := range fr.Curve {
		out.Validation = math.Max(out.Validation, c.Score)
	}
	if len(fr.Curve) == 0 {
		out.Validation = out.Best // no validation recorded (JSON has no −Inf)
	}
	return out
}

func score(s agents.Summary) float64 { return finetune.Score(s) }

// group aggregates one family and mode.
func (p *Plan) group(family, mode string, runs []RunResult, scfg stats.Config, rs stats.Resampler) (*Group, error) {
	g := &Group{Family: family, Mode: mode}
	for _, t := range p.Tasks[family] {
		g.Tasks = append(g.Tasks, t.ID)
	}
	col := map[string]int{}
	for i, t := range g.Tasks {
		col[t] = i
	}
	g.Before = make([]float64, len(g.Tasks))
	var names []string
	var matrices []*stats.Scores
	for _, v := range p.Variants {
		best, last := table(runs, family, mode, v.Name, col, func(r RunResult) float64 { return r.Best }),
			table(runs, family, mode, v.Name, col, func(r RunResult) float64 { return r.Last })
		if best == nil {
			g.Missing = append(g.Missing, v.Name)
			continue
		}
		sb, err := stats.NewScores(best)
		if err != nil {
			return nil, err
		}
		sl, err := stats.NewScores(last)
		if err != nil {
			return nil, err
		}
		a := Aggregate{Variant: v.Name, Runs: len(best), PerTask: make([]float64, len(g.Tasks))}
		if len(best) >= 2 {
			eb, err := stats.Bootstrap(sb, scfg, rs, stats.IQM, stats.Mean)
			if err != nil {
				return nil, err
			}
			el, err := stats.Bootstrap(sl, scfg, rs, stats.IQM, stats.Mean)
			if err != nil {
				return nil, err
			}
			a.BestIQM, a.BestMean, a.LastIQM, a.LastMean = eb[0], eb[1], el[0], el[1]
		} else {
			a.BestIQM, a.BestMean = point(stats.IQM(sb)), point(stats.Mean(sb))
			a.LastIQM, a.LastMean = point(stats.IQM(sl)), point(stats.Mean(sl))
		}
		var to90 []float64
		n := 0.0
		for _, r := range runs {
			if r.Family != family || r.Mode != mode || r.Variant != v.Name {
				continue
			}
			a.BestSuccess += r.BestSuccess
			a.LastSuccess += r.LastSuccess
			a.Trainable = r.Trainable
			to90 = append(to90, float64(r.StepsTo90))
			a.PerTask[col[r.Task]] += r.Best / float64(len(best))
			g.Before[col[r.Task]] = r.Before
			n++
		}
		a.BestSuccess, a.LastSuccess = a.BestSuccess/n, a.LastSuccess/n
		sort.Float64s(to90)
		a.StepsTo90 = median(to90)
		g.Aggregates = append(g.Aggregates, a)
		names = append(names, v.Name)
		matrices = append(matrices, sb)
	}
	if len(matrices) >= 2 && matrices[0].Runs() >= 2 {
		m, err := stats.ImprovementMatrix(matrices, scfg, rs)
		if err != nil {
			return nil, err
		}
		g.Improvement = m
		for i := range m {
			for j := range m {
				if i != j {
					g.PImprove = append(g.PImprove, ImprovementRow{X: names[i], Y: names[j], P: m[i][j]})
				}
			}
		}
	}
	return g, nil
}

// table is a variant's seeds × tasks matrix of a score, nil unless every task has
// the same number (≥ 1) of runs.
func table(runs []RunResult, family, mode, variant string, col map[string]int, f func(RunResult) float64) [][]float64 {
	bySeed := map[uint64][]float64{}
	var seeds []uint64
	for _, r := range runs {
		if r.Family != family || r.Mode != mode || r.Variant != variant {
			continue
		}
		row, ok := bySeed[r.Seed]
		if !ok {
			row = make([]float64, len(col))
			for i := range row {
				row[i] = math.NaN()
			}
			seeds = append(seeds, r.Seed)
		}
		row[col[r.Task]] = f(r)
		bySeed[r.Seed] = row
	}
	if len(seeds) == 0 {
		return nil
	}
	sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
	out := make([][]float64, 0, len(seeds))
	for _, s := range seeds {
		for _, v := range bySeed[s] {
			if math.IsNaN(v) {
				return nil
			}
		}
		out = append(out, bySeed[s])
	}
	return out
}

func point(v float64) stats.Estimate { return stats.Estimate{Value: v, Lo: v, Hi: v} }

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	if len(x)%2 == 1 {
		return x[len(x)/2]
	}
	return (x[len(x)/2-1] + x[len(x)/2]) / 2
}

// groupMarkdown renders a group's tables and links the figures drawn for it.
func groupMarkdown(p *Plan, g *Group, figs []figure) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## %s, %s (%d tasks)\n\n", g.Family, g.Mode, len(g.Tasks))
	if len(g.Missing) > 0 {
		fmt.Fprintf(&b, "Left out for missing runs: %s.\n\n", strings.Join(g.Missing, ", "))
	}
	b.WriteString("| method | IQM best | mean best | IQM last | mean last | success best / last | trainable params | updates to 90 % (median) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	before := 0.0
	for _, v := range g.Before {
		before += v / float64(len(g.Before))
	}
	fmt.Fprintf(&b, "| before (pretrained) | | %.1f | | | | | |\n", before)
	for _, a := range g.Aggregates {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f / %.2f | %d | %.0f |\n", a.Variant, a.BestIQM, a.BestMean, a.LastIQM, a.LastMean,
			a.BestSuccess, a.LastSuccess, a.Trainable, a.StepsTo90)
	}
	if len(g.Improvement) > 0 {
		b.WriteString("\nProbability of improvement P(row > column), best checkpoints, with 95 % intervals:\n\n| | ")
		for _, a := range g.Aggregates {
			b.WriteString(a.Variant + " | ")
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(g.Aggregates)) + "\n")
		for i, a := range g.Aggregates {
			fmt.Fprintf(&b, "| %s | ", a.Variant)
			for j := range g.Aggregates {
				if i == j {
					b.WriteString("– | ")
				} else {
					e := g.Improvement[i][j]
					fmt.Fprintf(&b, "%.2f [%.2f, %.2f] | ", e.Value, e.Lo, e.Hi)
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\nPer task, mean over seeds of the best checkpoint's test score:\n\n| task | before | ")
	for _, a := range g.Aggregates {
		b.WriteString(a.Variant + " | ")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(g.Aggregates)) + "\n")
	for i, t := range g.Tasks {
		fmt.Fprintf(&b, "| %s | %.1f | ", t, g.Before[i])
		for _, a := range g.Aggregates {
			fmt.Fprintf(&b, "%.1f | ", a.PerTask[i])
		}
		b.WriteString("\n")
	}
	if len(figs) > 0 {
		b.WriteString("\n")
	}
	for _, f := range figs {
		fmt.Fprintf(&b, "![%s](%s)\n", f.Title, f.File)
	}
	return b.String()
}

// figures draws a group's learning curves (validation score against updates, mean
// over runs × tasks with a 95 % bootstrap band), performance profiles and
// probability of improvement.
func (p *Plan) figures(g *Group, runs []RunResult, scfg stats.Config, rs stats.Resampler) ([]figure, error) {
	if len(g.Aggregates) == 0 {
		return nil, nil
	}
	stem := filepath.Join(p.Config.OutDir, "")
	col := map[string]int{}
	for i, t := range g.Tasks {
		col[t] = i
	}
	cc := scfg
	cc.Reps = min(scfg.Reps, 2000)
	var curves, profiles []stats.Curve
	var steps []float64
	tau := make([]float64, 0, 51)
	for x := -20.0; x <= 120; x += 2.5 {
		tau = append(tau, x)
	}
	for _, a := range g.Aggregates {
		// Validation curves: every run evaluates at the same steps.
		var ref []finetune.CurvePoint
		for _, r := range runs {
			if r.Family == g.Family && r.Mode == g.Mode && r.Variant == a.Variant {
				ref = r.Curve
				break
			}
		}
		if len(ref) == 0 {
			continue
		}
		if steps == nil {
			for _, c := range ref {
				steps = append(steps, float64(c.Step))
			}
		}
		var est []stats.Estimate
		for k := range steps {
			m := table(runs, g.Family, g.Mode, a.Variant, col, func(r RunResult) float64 {
				if k < len(r.Curve) {
					return r.Curve[k].Score
				}
				return math.NaN()
			})
			if m == nil || len(m) < 2 {
				est = nil
				break
			}
			s, err := stats.NewScores(m)
			if err != nil {
				est = nil
				break
			}
			e, err := stats.Bootstrap(s, cc, rs, stats.Mean)
			if err != nil {
				return nil, err
			}
			est = append(est, e[0])
		}
		if len(est) == len(steps) && len(est) > 0 {
			curves = append(curves, stats.Curve{Name: a.Variant, Profile: est})
		}
		best := table(runs, g.Family, g.Mode, a.Variant, col, func(r RunResult) float64 { return r.Best })
		if s, err := stats.NewScores(best); err == nil && s.Runs() >= 2 {
			prof, err := stats.BootstrapProfile(s, stats.ScoreDistribution, tau, cc, rs)
			if err != nil {
				return nil, err
			}
			profiles = append(profiles, stats.Curve{Name: a.Variant, Profile: prof})
		}
	}
	name := g.Family + "_" + g.Mode
	var figs []figure
	if len(curves) > 0 {
		f := figure{Title: "validation curves", File: "curves_" + name + ".png"}
		if err := stats.PlotBands(filepath.Join(stem, f.File), g.Family+" "+g.Mode+": validation score (mean over runs × tasks, 95 % CI)",
			"updates", "normalised score", steps, curves, false); err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	if len(profiles) > 0 {
		f := figure{Title: "performance profiles", File: "profiles_" + name + ".png"}
		if err := stats.PlotProfiles(filepath.Join(stem, f.File), g.Family+" "+g.Mode+": performance profiles (best checkpoints, test)", tau, profiles); err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	if len(g.Improvement) > 0 {
		var names []string
		for _, a := range g.Aggregates {
			names = append(names, a.Variant)
		}
		f := figure{Title: "probability of improvement", File: "improvement_" + name + ".png"}
		if err := stats.PlotImprovement(filepath.Join(stem, f.File), g.Family+" "+g.Mode+": probability of improvement", names, g.Improvement); err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// figure is one picture of a group: its alt text and file name in out_dir.
type figure struct{ Title, File string }

// chooseLR picks, per family, mode and swept variant, the rate whose runs have the
// highest mean best validation score (never a test score).
func (p *Plan) chooseLR(runs []RunResult) LRChoice {
	var out LRChoice
	for _, fam := range p.Config.Families {
		for _, mode := range fam.modes(p.Config.Modes) {
			for _, v := range p.Config.Variants {
				if len(v.LRs) == 0 {
					continue
				}
				c := LRChosen{Family: fam.Name, Mode: mode, Variant: v.Name, Candidates: map[string]float64{}}
				bestScore := math.Inf(-1)
				for _, lr := range v.LRs {
					name := fmt.Sprintf("%s@%g", v.Name, lr)
					sum, n := 0.0, 0
					for _, r := range runs {
						if r.Family == fam.Name && r.Mode == mode && r.Variant == name {
							sum += r.Validation
							n++
						}
					}
					if n == 0 {
						continue
					}
					c.Candidates[fmt.Sprint(lr)] = sum / float64(n)
					if sum/float64(n) > bestScore {
						bestScore, c.LR = sum/float64(n), lr
					}
				}
				out.Chosen = append(out.Chosen, c)
			}
		}
	}
	return out
}

func sweepMarkdown(c LRChoice) string {
	var b strings.Builder
	b.WriteString("\n## Chosen learning rates (mean best validation score over tasks × seeds)\n\n| family | mode | method | chosen lr | validation score by lr |\n|---|---|---|---|---|\n")
	for _, e := range c.Chosen {
		var lrs []string
		for k := range e.Candidates {
			lrs = append(lrs, k)
		}
		sort.Slice(lrs, func(i, j int) bool {
			var a, b float64
			fmt.Sscan(lrs[i], &a)
			fmt.Sscan(lrs[j], &b)
			return a < b
		})
		var parts []string
		for _, k := range lrs {
			parts = append(parts, fmt.Sprintf("%s: %.1f", k, e.Candidates[k]))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %g | %s |\n", e.Family, e.Mode, e.Variant, e.LR, strings.Join(parts, ", "))
	}
	return b.String()
}
