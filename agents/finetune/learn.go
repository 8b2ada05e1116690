package finetune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/policy"
)

// Result is what a run reports (results.json in the run directory). Every number
// of the test evaluations is kept per task, target and episode in PerTask, so that
// tables and statistics can be recomputed from it.
type Result struct {
	Method string   `json:"method"`
	Mode   string   `json:"mode"`
	Tasks  []string `json:"tasks"`
	Seed   uint64   `json:"seed"`
	// Before is the base policy, After the validation-selected checkpoint ("best")
	// and Last the last checkpoint, each on the test seeds, averaged over tasks at
	// the first target.
	Before agents.Summary `json:"before"`
	After  agents.Summary `json:"after"`
	Last   agents.Summary `json:"last"`
	// BestStep is the update count of the validation-selected checkpoint.
	BestStep int `json:"best_step"`
	// PerTask holds the test evaluations: "before", "best", "last".
	PerTask map[string][]agents.EvalResult `json:"per_task"`
	// Params counts the policy's parameters, Trainable those the method trains.
	Params    int `json:"params"`
	Trainable int `json:"trainable_params"`
	Steps     int `json:"steps"`
	// StepsTo90 is the first validation step whose score covers 90 % of the way
	// from the first validation score to the last (−1 without evaluations): how
	// fast the run converges.
	StepsTo90 int `json:"steps_to_90pct"`
	// EVASeconds is the wall time of EVA before training: its rollouts, the pass
	// and attaching the adapters (0 for other methods and for a loaded eva.state).
	EVASeconds float64 `json:"eva_seconds"`
	// EVATiming splits EVASeconds' computation into the rollouts and the pass (the
	// rest of EVASeconds is attaching the adapters).
	EVATiming
	TrainSeconds float64 `json:"train_seconds"`
	// WallSeconds is the whole run: references, evaluations, EVA, training.
	WallSeconds float64 `json:"wall_seconds"`
	// EVAShare is EVASeconds / (EVASeconds + TrainSeconds), wall time.
	EVAShare float64 `json:"eva_share"`
	// Ranks are the adapters' ranks per layer (EVA redistributes them).
	Ranks map[string]int `json:"ranks,omitempty"`
	// Curve is the validation score at each evaluated update.
	Curve []CurvePoint `json:"curve"`
	// References are the test seeds' normalised-score anchors, by task.
	References map[string]agents.Reference `json:"references"`
}

// CurvePoint is one validation evaluation.
type CurvePoint struct {
	Step  int     `json:"step"`
	Score float64 `json:"score"`
}

// Learn runs the fine-tuning to its configured number of updates: validation
// evaluations every Eval.Every updates pick the best checkpoint; at the end the
// validation-selected and the last checkpoint are each evaluated on the test seeds.
// Metric rows go to rec (may be nil) and, with a run directory, to its metrics file.
// When ctx is cancelled Learn saves last/ and returns an error wrapping
// agents.ErrInterrupted; Resume continues from there.
func (t *Tuner) Learn(ctx context.Context, rec agents.Recorder) (*Result, error) {
	cfg, log := t.cfg, t.opts.Log
	steps := cfg.Steps()
	total, trainable := t.Counts()
	log.WithFields(logrus.Fields{"method": cfg.Method, "mode": cfg.Mode, "tasks": taskIDs(t.tasks), "episodes": len(t.data),
		"params": total, "trainable": trainable, "steps": steps, "start_step": t.loop.Step, "seed": cfg.Seed}).Info("finetune")

	var curve []CurvePoint
	var logger *metrics.Logger
	if t.dir.Path != "" {
		var resumed *agents.LoopState
		if t.resumed {
			resumed = &t.loop
		}
		var err error
		if logger, err = t.dir.OpenMetrics(agents.MetricColumns, resumed); err != nil {
			return nil, err
		}
		for _, r := range logger.Rows() {
			if s, ok := r.Values[agents.MetricEvalScore]; ok {
				curve = append(curve, CurvePoint{Step: r.Step, Score: s})
			}
		}
	}
	recorders := agents.Recorders{rec}
	if logger != nil {
		recorders = append(recorders, logger)
	}
	ckpt, cleanup, err := t.checkpointDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	hooks := agents.LoopHooks{
		Recorder: recorders,
		Log:      log,
		Evaluate: func(ctx context.Context, step int) (agents.EvalReport, error) {
			rep, err := t.validate(ctx)
			if err == nil {
				curve = append(curve, CurvePoint{Step: step, Score: rep.Score})
			}
			return rep, err
		},
		Save: func(kind string, st agents.LoopState) error {
			return ckpt.SaveCheckpoint(kind, func(dir string) error { return t.save(dir, st) })
		},
	}
	loopCfg := agents.LoopConfig{Steps: steps, LogEvery: cfg.LogEvery, EvalEvery: cfg.Eval.Every}
	trainStart := time.Now()
	st, err := agents.RunLoop(ctx, loopCfg, t.trainer, hooks, t.loop)
	t.loop = st
	trainSeconds := time.Since(trainStart).Seconds()
	if logger != nil {
		title := fmt.Sprintf("finetune %s %s", cfg.Method, cfg.Mode)
		if perr := LearningCurves(filepath.Join(t.dir.Path, "learning_curve.png"), title, logger.Rows()); perr != nil {
			log.WithError(perr).Warn("learning curve")
		}
	}
	if err != nil {
		if errors.Is(err, agents.ErrInterrupted) {
			log.WithField("checkpoint", filepath.Join(ckpt.Path, "last")).Warn("interrupted; resume to continue")
		}
		return nil, err
	}

	// The test evaluations: the validation-selected checkpoint, loaded as a user
	// loads it, and the last one.
	res := &Result{Method: cfg.Method, Mode: cfg.Mode, Tasks: taskIDs(t.tasks), Seed: cfg.Seed, Steps: steps,
		PerTask: map[string][]agents.EvalResult{"before": t.before}, Params: total, Trainable: trainable,
		BestStep: st.BestStep, Curve: curve, EVASeconds: t.evaSeconds, EVATiming: t.evaTiming, References: t.refs.Test}
	res.Before = t.summary(t.before)
	for _, kind := range []string{"best", "last"} {
		dir, err := ckpt.Checkpoint(kind)
		if err != nil {
			return nil, err
		}
		m, err := t.loadCheckpoint(dir)
		if err != nil {
			return nil, err
		}
		out, err := agents.Evaluate(ctx, m, t.tasks, cfg.Eval.test(t.refs.Test), t.evalRand())
		if err != nil {
			return nil, err
		}
		res.PerTask[kind] = out
		log.WithFields(summaryFields(t.summary(out))).WithField("checkpoint", kind).Info("test")
	}
	res.After, res.Last = t.summary(res.PerTask["best"]), t.summary(res.PerTask["last"])
	res.TrainSeconds = trainSeconds
	if res.EVASeconds+res.TrainSeconds > 0 {
		res.EVAShare = res.EVASeconds / (res.EVASeconds + res.TrainSeconds)
	}
	res.StepsTo90 = StepsTo90(curve)
	if t.adapters != nil {
		res.Ranks = map[string]int{}
		for _, a := range t.adapters.Adapters {
			res.Ranks[a.Layer.Name] = a.R
		}
		if t.evaState != nil {
			for _, l := range t.evaState.Layers {
				res.Ranks[l.Name] = l.Rank
			}
		}
	}
	res.WallSeconds = time.Since(t.started).Seconds()
	if t.dir.Path != "" {
		if err := t.dir.WriteJSON(ResultsFile, res); err != nil {
			return nil, err
		}
		md := ResultsMarkdown(res.PerTask, t.refs.Test)
		if err := atomicfile.WriteFile(filepath.Join(t.dir.Path, "results.md"), []byte(md)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// evalRand is the random source of sampled evaluation actions (unused when greedy).
func (t *Tuner) evalRand() *rand.Rand {
	if t.cfg.Eval.Greedy {
		return nil
	}
	r, _ := agents.Seed(t.cfg.Seed).Stream("eval")
	return r
}

// validate evaluates the current policy on the validation seeds (adapter dropout
// and the model's dropout off) and scores it.
func (t *Tuner) validate(ctx context.Context) (agents.EvalReport, error) {
	t.setTrain(false)
	defer t.setTrain(true)
	out, err := agents.Evaluate(ctx, t.model, t.tasks, t.cfg.Eval.validation(t.refs.Validation), t.evalRand())
	if err != nil {
		return agents.EvalReport{}, err
	}
	s := t.summary(out)
	return agents.EvalReport{Score: Score(s), Values: map[string]float64{
		agents.MetricEvalReturn: s.MeanReturn, agents.MetricEvalNormalized: s.MeanNormalized, agents.MetricEvalSuccess: s.SuccessRate}}, nil
}

// summary averages results at the first target over tasks.
func (t *Tuner) summary(res []agents.EvalResult) agents.Summary {
	return agents.Summarize(FirstTarget(res, t.cfg.Eval.Targets[0]))
}

// Score is the number that ranks checkpoints: the mean normalised score when every
// task has a reference, else the mean return.
func Score(s agents.Summary) float64 {
	if math.IsNaN(s.MeanNormalized) {
		return s.MeanReturn
	}
	return s.MeanNormalized
}

// FirstTarget keeps the results at the target that scores checkpoints.
func FirstTarget(res []agents.EvalResult, target float64) []agents.EvalResult {
	var out []agents.EvalResult
	for _, r := range res {
		if r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

// measureBefore evaluates the base policy on the test seeds (unless given) and
// measures the references.
func (t *Tuner) measureBefore(ctx context.Context) error {
	if err := t.measureReferences(ctx); err != nil {
		return err
	}
	t.before = t.opts.Before
	if t.before == nil {
		t.model.SetTrain(false)
		out, err := agents.Evaluate(ctx, t.model, t.tasks, t.cfg.Eval.test(t.refs.Test), t.evalRand())
		t.model.SetTrain(true)
		if err != nil {
			return err
		}
		t.before = out
	}
	if t.dir.Path != "" {
		if err := t.dir.WriteJSON(BeforeFile, t.before); err != nil {
			return err
		}
	}
	t.opts.Log.WithFields(summaryFields(t.summary(t.before))).Info("before fine-tuning")
	return nil
}

// measureReferences measures random and expert returns on the validation and test
// seeds of every task with a scripted expert (unless given).
func (t *Tuner) measureReferences(ctx context.Context) error {
	if t.opts.References != nil {
		t.refs = *t.opts.References
		return nil
	}
	var err error
	ev := t.cfg.Eval
	if t.refs.Validation, err = MeasureReferences(ctx, t.tasks, ev.refEpisodes(ev.Episodes), ev.ValidationSeed); err != nil {
		return err
	}
	t.refs.Test, err = MeasureReferences(ctx, t.tasks, ev.refEpisodes(ev.TestEpisodes), ev.TestSeed)
	return err
}

func (c EvalConfig) refEpisodes(n int) int {
	if c.RefEpisodes > 0 {
		return min(c.RefEpisodes, n)
	}
	return n
}

// MeasureReferences measures the references (agents.ComputeReference) of the tasks
// whose environment has a scripted expert; the others get none, so their results
// have no normalised score.
func MeasureReferences(ctx context.Context, tasks []envs.Task, episodes int, seed int64) (map[string]agents.Reference, error) {
	refs := map[string]agents.Reference{}
	for _, task := range tasks {
		if !expert.Has(task.EnvID) {
			continue
		}
		r, err := agents.ComputeReference(ctx, task, episodes, seed)
		if err != nil {
			return nil, err
		}
		refs[task.ID] = r
	}
	return refs, nil
}

// checkpointDir is where best/ and last/ go: the run directory, or a temporary one
// removed when Learn returns (a run kept in memory still evaluates its best
// checkpoint as a user would load it).
func (t *Tuner) checkpointDir() (agents.RunDir, func(), error) {
	if t.dir.Path != "" {
		return t.dir, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "evarl-finetune-*")
	if err != nil {
		return agents.RunDir{}, nil, fmt.Errorf("finetune: %w", err)
	}
	return agents.RunDir{Path: dir}, func() { os.RemoveAll(dir) }, nil
}

// loadCheckpoint loads a checkpoint of this run onto a copy of the pristine base,
// adapters merged: what LoadPolicy gives a user.
func (t *Tuner) loadCheckpoint(dir string) (*policy.Model, error) {
	if t.adapters == nil {
		m, err := policy.Load(dir, t.model.Gemm())
		if err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
		return m, nil
	}
	base, err := t.pristine.Clone(nil)
	if err != nil {
		return nil, err
	}
	return mergeAdapter(base, dir, false)
}

func summaryFields(s agents.Summary) logrus.Fields {
	return logrus.Fields{"mean_return": fmt.Sprintf("%.4g", s.MeanReturn), "normalized": fmt.Sprintf("%.1f", s.MeanNormalized),
		"success_rate": fmt.Sprintf("%.3f", s.SuccessRate), "episodes": s.Episodes}
}

// StepsTo90 is the first evaluated step whose score reaches 90 % of the way from the
// first evaluation's score to the last one's (−1 without evaluations).
func StepsTo90(curve []CurvePoint) int {
	if len(curve) == 0 {
		return -1
	}
	first, final := curve[0].Score, curve[len(curve)-1].Score
	for _, p := range curve {
		if p.Score >= first+0.9*(final-first) {
			return p.Step
		}
	}
	return curve[len(curve)-1].Step
}
