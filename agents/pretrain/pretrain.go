// Package pretrain trains a Decision Transformer from scratch on the datasets of a
// task family (return-conditioned supervised learning, the DT reference's recipe),
// evaluating it on the pretraining tasks as it trains and zero-shot on held-out tasks
// at the end. It is the library behind `rl-train pretrain` and
// scripts/pretrain_all.sh, which regenerate the shipped policies under pretrained/.
//
// A run keeps its files in a run directory as fine-tuning does (agents.RunDir):
// config.yaml, metrics, best/ and last/ checkpoints, results.json and results.md;
// Resume continues it exactly, and Export copies the best checkpoint out.
//
// Evaluation seeds: validation episodes (checkpoint selection on the pretraining
// tasks) reset from agents.ValidationSeeds, the final evaluations of the best
// checkpoint on the pretraining and held-out tasks from agents.TestSeeds; the
// datasets' seeds (rl-train collect) lie below both.
package pretrain

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// Config holds every setting of a pretraining run.
type Config struct {
	// Model is the DT; its state_dim and action come from the environment.
	Model policy.Config `yaml:"model"`
	// Train is the optimisation.
	Train agents.TrainConfig `yaml:"train"`
	// Eval is the evaluation schedule: validation on the pretraining tasks during
	// training, test episodes of the best checkpoint on both task sets at the end.
	Eval finetune.EvalConfig `yaml:"eval"`
	// LogEvery is the number of updates between training-metric rows.
	LogEvery int `yaml:"log_every"`
	// Seed seeds initialisation, sampling and dropout.
	Seed uint64 `yaml:"seed"`
}

// DefaultConfig is the reference DT's recipe at 10,000 updates on a small model
// (policy.DefaultConfig).
func DefaultConfig() Config {
	m := policy.DefaultConfig(1, policy.ActionSpace{Discrete: 2})
	m.StateDim, m.Action = 0, policy.ActionSpace{}
	return Config{Model: m, Train: agents.DefaultTrainConfig(10000), Eval: finetune.DefaultEvalConfig(), LogEvery: 100}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Model.StateDim != 0 || c.Model.Action.Discrete != 0 || c.Model.Action.Dim != 0:
		return errors.New("pretrain: model.state_dim and model.action come from the environment; remove them from the config")
	case c.LogEvery <= 0:
		return fmt.Errorf("pretrain: log_every = %d, want > 0", c.LogEvery)
	}
	if err := c.Train.Validate(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if err := c.Eval.Validate(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	return nil
}

// ResumableFields may differ between a run and its resumption: the step budget.
var ResumableFields = []string{"train.steps", "train.schedule.total_steps", "log_every"}

// Options carries what a run needs besides its Config.
type Options struct {
	// RunDir, when set, is the run's directory (see the package documentation).
	RunDir string
	// Metrics is the metrics file name in RunDir (default metrics.jsonl).
	Metrics string
	// Overwrite lets New replace a run that RunDir already holds.
	Overwrite bool
	// Gemm computes the matrix products (nil: nn.DefaultGemm).
	Gemm nn.Gemm
	// Log receives the run's log lines (nil: none).
	Log logrus.FieldLogger
}

// Trainer is one pretraining run.
type Trainer struct {
	cfg      Config
	opts     Options
	dir      agents.RunDir
	tasks    []envs.Task
	heldOut  []envs.Task
	data     []*replay.Episode
	model    *policy.Model
	rng      *rand.Rand
	src      *rand.PCG
	offline  *agents.Offline
	loop     agents.LoopState
	resumed  bool
	started  time.Time
	valRefs  map[string]agents.Reference
	testRefs map[string]agents.Reference
}

// ModelConfig completes cfg.Model with the spaces of the tasks' environment: the
// observation size, the action space, and the head that fits it: a categorical head
// (the default) asked for continuous actions becomes the deterministic head, and a
// continuous head (deterministic, gaussian) asked for discrete actions is an error
// rather than silently replaced.
func ModelConfig(cfg policy.Config, task envs.Task) (policy.Config, error) {
	env, err := task.Make()
	if err != nil {
		return cfg, err
	}
	cfg.StateDim = env.ObservationSpace().Dim()
	if cfg.Action, err = agents.ActionSpaceOf(env.ActionSpace()); err != nil {
		return cfg, fmt.Errorf("pretrain: %w", err)
	}
	if cfg.Action.IsDiscrete() {
		switch cfg.Head {
		case policy.HeadDeterministic, policy.HeadGaussian:
			return cfg, fmt.Errorf("pretrain: model.head = %q needs continuous actions; task %s has %d discrete actions: use %q",
				cfg.Head, task.ID, cfg.Action.Discrete, policy.HeadCategorical)
		case "":
			cfg.Head = policy.HeadCategorical
		}
	} else if cfg.Head == policy.HeadCategorical {
		cfg.Head = policy.HeadDeterministic
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("pretrain: model: %w", err)
	}
	return cfg, nil
}

// New prepares a pretraining run on tasks with data (their datasets), evaluating
// zero-shot on heldOut at the end (may be empty). It builds the model from
// cfg.Model and the tasks' spaces, with its state normalisation from the data.
func New(tasks, heldOut []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Trainer, error) {
	t, err := prepare(tasks, heldOut, data, cfg, opts)
	if err != nil {
		return nil, err
	}
	mc, err := ModelConfig(cfg.Model, tasks[0])
	if err != nil {
		return nil, err
	}
	if t.model, err = policy.New(mc, t.rng, t.opts.Gemm); err != nil {
		return nil, err
	}
	if err := agents.CheckEpisodes(mc, t.data); err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	if n := agents.LongestEpisode(t.data); n > mc.MaxEpisodeLen {
		t.opts.Log.WithFields(logrus.Fields{"longest_episode": n, "max_episode_len": mc.MaxEpisodeLen}).
			Warn("the data's episodes run past model.max_episode_len: their later steps share its last timestep embedding")
	}
	norm, err := replay.ComputeNormStats(t.data, 0)
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	if err := t.model.SetStateNorm(toFloat32(norm.Mean), toFloat32(norm.Std)); err != nil {
		return nil, err
	}
	if t.dir.Path != "" {
		if err := t.dir.Claim(cfg, opts.Overwrite, finetune.ResultsFile, "results.md", "learning_curve.png"); err != nil {
			return nil, fmt.Errorf("pretrain: %w", err)
		}
	}
	return t, t.build()
}

// Resume continues the run in runDir from its last checkpoint (see
// finetune.Resume for the rules).
func Resume(runDir string, tasks, heldOut []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Trainer, error) {
	opts.RunDir = runDir
	t, err := prepare(tasks, heldOut, data, cfg, opts)
	if err != nil {
		return nil, err
	}
	if !t.dir.HasCheckpoint("last") {
		return nil, fmt.Errorf("pretrain: %w: %s has no complete last/ checkpoint", finetune.ErrNoCheckpoint, runDir)
	}
	if err := t.dir.CheckResume(cfg, ResumableFields); err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	last, err := t.dir.Checkpoint("last")
	if err != nil {
		return nil, err
	}
	if t.model, err = policy.LoadRand(last, t.opts.Gemm, t.rng); err != nil {
		return nil, fmt.Errorf("pretrain: resume: %w", err)
	}
	if err := agents.CheckEpisodes(t.model.Config(), t.data); err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	if err := t.build(); err != nil {
		return nil, err
	}
	st, opt, err := agents.LoadTrainState(last, t.src)
	if err != nil {
		return nil, err
	}
	if err := t.offline.Restore(st.Step(), opt); err != nil {
		return nil, fmt.Errorf("pretrain: resume: %w", err)
	}
	t.loop, t.resumed = st.Loop, true
	return t, nil
}

func prepare(tasks, heldOut []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, errors.New("pretrain: no tasks")
	}
	if opts.Metrics == "" {
		opts.Metrics = "metrics.jsonl"
	}
	if opts.Log == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		opts.Log = l
	}
	if opts.Gemm == nil {
		g, err := nn.DefaultGemm(opts.Log)
		if err != nil {
			return nil, err
		}
		opts.Gemm = g
	}
	eps := finetune.OnlyTasks(data, tasks)
	if len(eps) == 0 {
		return nil, fmt.Errorf("pretrain: the data holds no episode of the pretraining tasks")
	}
	rng, src := agents.Seed(cfg.Seed).Stream("train")
	return &Trainer{cfg: cfg, opts: opts, dir: agents.RunDir{Path: opts.RunDir, Metrics: opts.Metrics}, tasks: tasks, heldOut: heldOut,
		data: eps, rng: rng, src: src, loop: agents.NewLoopState(), started: time.Now()}, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func (t *Trainer) build() error {
	if err := agents.CheckTasks(t.model.Config(), append(append([]envs.Task(nil), t.tasks...), t.heldOut...)); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	sampler, err := replay.NewSampler(t.data)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if t.offline, err = agents.NewOffline(t.model, nil, sampler, t.cfg.Train, t.rng); err != nil {
		return err
	}
	t.model.SetTrain(true)
	return nil
}

// Model is the policy being trained.
func (t *Trainer) Model() *policy.Model { return t.model }

// Save writes a checkpoint of the run as it stands into dir (the policy and the
// trainer's state).
func (t *Trainer) Save(dir string) error { return t.save(dir, t.loop) }

func (t *Trainer) save(dir string, st agents.LoopState) error {
	if err := t.model.Save(dir); err != nil {
		return err
	}
	return agents.SaveTrainState(dir, agents.TrainState{Loop: st}, t.src, t.offline.Optimizer().State())
}

// Result is what a pretraining run reports: the final evaluation of its best
// checkpoint on the test seeds of the pretraining and the held-out tasks.
type Result struct {
	Steps    int                            `json:"steps"`
	BestStep int                            `json:"best_step"`
	Params   int                            `json:"params"`
	Groups   map[string][]agents.EvalResult `json:"per_task"` // "pretrain", "heldout"
	Pretrain agents.Summary                 `json:"pretrain"`
	HeldOut  agents.Summary                 `json:"heldout"`
	Wall     float64                        `json:"wall_seconds"`
}

// Learn trains to the configured number of updates (see finetune.Tuner.Learn for
// interruption and resumption), then evaluates the best checkpoint.
func (t *Trainer) Learn(ctx context.Context, rec agents.Recorder) (*Result, error) {
	cfg, log := t.cfg, t.opts.Log
	ev := cfg.Eval
	var err error
	if t.valRefs == nil {
		if t.valRefs, err = finetune.MeasureReferences(ctx, t.tasks, refs(ev.RefEpisodes, ev.Episodes), ev.ValidationSeed); err != nil {
			return nil, err
		}
	}
	total, _ := t.model.Params().Count()
	log.WithFields(logrus.Fields{"tasks": len(t.tasks), "episodes": len(t.data), "params": total, "steps": cfg.Train.Steps,
		"start_step": t.loop.Step, "seed": cfg.Seed}).Info("pretrain")
	recorders := agents.Recorders{rec}
	var logger *metrics.Logger
	if t.dir.Path != "" {
		var resumed *agents.LoopState
		if t.resumed {
			resumed = &t.loop
		}
		if logger, err = t.dir.OpenMetrics(agents.MetricColumns, resumed); err != nil {
			return nil, err
		}
		recorders = append(recorders, logger)
	}
	ckpt := t.dir
	if ckpt.Path == "" {
		tmp, err := os.MkdirTemp("", "evarl-pretrain-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		ckpt.Path = tmp
	}
	hooks := agents.LoopHooks{
		Recorder: recorders,
		Log:      log,
		Evaluate: func(ctx context.Context, _ int) (agents.EvalReport, error) {
			t.model.SetTrain(false)
			defer t.model.SetTrain(true)
			out, err := agents.Evaluate(ctx, t.model, t.tasks, evalConfig(ev, ev.Episodes, ev.ValidationSeed, t.valRefs), t.evalRand())
			if err != nil {
				return agents.EvalReport{}, err
			}
			s := agents.Summarize(finetune.FirstTarget(out, ev.Targets[0]))
			return agents.EvalReport{Score: finetune.Score(s), Values: map[string]float64{
				agents.MetricEvalReturn: s.MeanReturn, agents.MetricEvalNormalized: s.MeanNormalized, agents.MetricEvalSuccess: s.SuccessRate}}, nil
		},
		Save: func(kind string, st agents.LoopState) error {
			return ckpt.SaveCheckpoint(kind, func(dir string) error { return t.save(dir, st) })
		},
	}
	loop := agents.LoopConfig{Steps: cfg.Train.Steps, LogEvery: cfg.LogEvery, EvalEvery: ev.Every}
	st, err := agents.RunLoop(ctx, loop, t.offline, hooks, t.loop)
	t.loop = st
	if logger != nil {
		if perr := finetune.LearningCurves(filepath.Join(t.dir.Path, "learning_curve.png"), "pretrain", logger.Rows()); perr != nil {
			log.WithError(perr).Warn("learning curve")
		}
	}
	if err != nil {
		return nil, err
	}
	bestDir, err := ckpt.Checkpoint("best")
	if err != nil {
		return nil, err
	}
	best, err := policy.Load(bestDir, t.opts.Gemm)
	if err != nil {
		return nil, err
	}
	res := &Result{Steps: cfg.Train.Steps, BestStep: st.BestStep, Params: total, Groups: map[string][]agents.EvalResult{}}
	for _, g := range []struct {
		name  string
		tasks []envs.Task
	}{{"pretrain", t.tasks}, {"heldout", t.heldOut}} {
		if len(g.tasks) == 0 {
			continue
		}
		refs, err := finetune.MeasureReferences(ctx, g.tasks, refs(ev.RefEpisodes, ev.TestEpisodes), ev.TestSeed)
		if err != nil {
			return nil, err
		}
		for k, v := range refs {
			if t.testRefs == nil {
				t.testRefs = map[string]agents.Reference{}
			}
			t.testRefs[k] = v
		}
		out, err := agents.Evaluate(ctx, best, g.tasks, evalConfig(ev, ev.TestEpisodes, ev.TestSeed, refs), t.evalRand())
		if err != nil {
			return nil, err
		}
		res.Groups[g.name] = out
		s := agents.Summarize(finetune.FirstTarget(out, ev.Targets[0]))
		if g.name == "pretrain" {
			res.Pretrain = s
		} else {
			res.HeldOut = s
		}
		log.WithFields(logrus.Fields{"tasks": g.name, "normalized": fmt.Sprintf("%.1f", s.MeanNormalized), "success_rate": fmt.Sprintf("%.3f", s.SuccessRate)}).Info("final evaluation")
	}
	res.Wall = time.Since(t.started).Seconds()
	if t.dir.Path != "" {
		if err := t.dir.WriteJSON(finetune.ResultsFile, res); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(filepath.Join(t.dir.Path, "results.md"), []byte(t.ResultsMarkdown(res))); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ResultsMarkdown renders a result's tables.
func (t *Trainer) ResultsMarkdown(res *Result) string {
	return finetune.ResultsMarkdown(res.Groups, t.testRefs)
}

func refs(cap, n int) int {
	if cap > 0 {
		return min(cap, n)
	}
	return n
}

func evalConfig(ev finetune.EvalConfig, episodes int, seed int64, refs map[string]agents.Reference) agents.EvalConfig {
	return agents.EvalConfig{Episodes: episodes, Targets: ev.Targets, NumEnvs: ev.NumEnvs, Seed: seed, Greedy: ev.Greedy, References: refs}
}

// evalRand is the random source of sampled evaluation actions (nil when greedy).
func (t *Trainer) evalRand() *rand.Rand {
	if t.cfg.Eval.Greedy {
		return nil
	}
	r, _ := agents.Seed(t.cfg.Seed).Stream("eval")
	return r
}

// Export copies the run's best checkpoint (the policy files, not the trainer state)
// and its results.md into dst, replacing dst as a whole.
func (t *Trainer) Export(dst string) error {
	if t.dir.Path == "" {
		return errors.New("pretrain: export needs a run directory")
	}
	best, err := t.dir.Checkpoint("best")
	if err != nil {
		return err
	}
	out := agents.RunDir{Path: filepath.Dir(filepath.Clean(dst))}
	if err := os.MkdirAll(out.Path, 0o755); err != nil {
		return fmt.Errorf("pretrain: export: %w", err)
	}
	return out.SaveCheckpoint(filepath.Base(filepath.Clean(dst)), func(tmp string) error {
		for _, f := range []string{filepath.Join(best, policy.ConfigFile), filepath.Join(best, policy.WeightsFile), filepath.Join(t.dir.Path, "results.md")} {
			data, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if err := atomicfile.WriteFile(filepath.Join(tmp, filepath.Base(f)), data); err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckExport reports, before any training, whether dst can be written: its parent
// can be created and written to.
func CheckExport(dst string) error {
	parent := filepath.Dir(filepath.Clean(dst))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("pretrain: export %s: %w", dst, err)
	}
	f, err := os.CreateTemp(parent, ".export-check-*")
	if err != nil {
		return fmt.Errorf("pretrain: export %s: the directory is not writable: %w", dst, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Step is the number of updates taken.
func (t *Trainer) Step() int { return t.offline.StepCount() }

// Start is New, or with resume Resume of the run in opts.RunDir (a new run when it
// has no checkpoint yet).
func Start(resume bool, tasks, heldOut []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Trainer, error) {
	if resume {
		t, err := Resume(opts.RunDir, tasks, heldOut, data, cfg, opts)
		if !errors.Is(err, finetune.ErrNoCheckpoint) {
			return t, err
		}
		if opts.Log != nil {
			opts.Log.WithField("run_dir", opts.RunDir).Warn("no checkpoint to resume from yet: starting the run anew")
		}
		opts.Overwrite = true
	}
	return New(tasks, heldOut, data, cfg, opts)
}

// TaskSets resolves a family's pretraining task set and, when heldOut is not empty,
// its held-out task set, which must be of the same family.
func TaskSets(taskSet, heldOut string) (tasks, held []envs.Task, err error) {
	if taskSet == "" {
		return nil, nil, errors.New("pretrain: task_set is empty; want e.g. gridworld/pretrain (see rl-train envs)")
	}
	set, err := envs.LookupTaskSet(taskSet)
	if err != nil {
		return nil, nil, fmt.Errorf("pretrain: task_set: %w", err)
	}
	if heldOut == "" {
		return set.Tasks, nil, nil
	}
	h, err := envs.LookupTaskSet(heldOut)
	if err != nil {
		return nil, nil, fmt.Errorf("pretrain: held_out: %w", err)
	}
	if h.Family != set.Family {
		return nil, nil, fmt.Errorf("pretrain: held_out %s is of family %s, task_set %s of %s: want the same family", heldOut, h.Family, taskSet, set.Family)
	}
	return set.Tasks, h.Tasks, nil
}
