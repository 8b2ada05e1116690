package finetune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// Options carries what a run needs besides its Config.
type Options struct {
	// RunDir, when set, is where the run lives (see the package documentation for
	// its layout): Learn saves best/ and last/ there and writes metrics and results,
	// and Resume continues from it. "" keeps the run in memory.
	RunDir string
	// Metrics is the metrics file name inside RunDir: ".jsonl" (default
	// metrics.jsonl) or ".csv".
	Metrics string
	// Base names the base checkpoint in saved adapters (adapter_config.json's
	// base_model_name_or_path), so that a user knows what to load them onto.
	Base string
	// Overwrite lets New replace a run that RunDir already holds; without it New
	// refuses, so a finished run is never lost by a mistyped command.
	Overwrite bool
	// Log receives the run's log lines (nil: none).
	Log logrus.FieldLogger
	// Before is the base policy's test evaluation on the run's tasks, reused instead
	// of being run again (an experiment evaluates the base once per task suite).
	Before []agents.EvalResult
	// References are the normalised-score anchors of the tasks on the test seeds and
	// the validation seeds, reused instead of measured again (nil: measured).
	References *References
}

// References anchor normalised scores: random play and the scripted expert on the
// very episodes (seeds) each evaluation runs.
type References struct {
	Validation map[string]agents.Reference `json:"validation"`
	Test       map[string]agents.Reference `json:"test"`
}

// Tuner is one fine-tuning run: a pretrained policy with the method's trainable
// parameters attached (all weights, or adapters), its trainer, evaluation schedule
// and checkpoints. Build it with New (a new run) or Resume (a run continued from its
// last checkpoint), then call Learn.
type Tuner struct {
	cfg   Config
	opts  Options
	tasks []envs.Task
	data  []*replay.Episode

	dir      agents.RunDir // Path "" while no run directory is set
	model    *policy.Model // trained in place
	pristine *policy.Model // the base as given, untouched, to evaluate checkpoints on
	adapters *lora.Model   // nil for method full
	evaState *eva.State

	rng     *rand.Rand // the train stream: sampling, dropout, exploration
	src     *rand.PCG
	offline *agents.Offline
	online  *agents.Online
	trainer agents.Stepper
	opt     nn.Optimizer
	loop    agents.LoopState

	refs       References
	before     []agents.EvalResult
	evaSeconds float64
	evaTiming  EVATiming // its rollouts and pass
	started    time.Time
	resumed    bool
}

// New prepares a fine-tuning run of base on tasks with the offline data (episodes
// of other tasks are ignored). It takes over base: the run's seeded streams replace
// its random source, and base is trained in place (with adapters attached for LoRA
// methods). It checks everything it can before doing work: the config, that the
// policy can act in every task, that the data fits the policy's spaces, and that
// the data's reset seeds are disjoint from the validation and test seeds. Then it
// evaluates the base policy on the test seeds (the "before" numbers; unless
// opts.Before gives them), runs the EVA pass when the method is eva, and attaches
// the adapters.
func New(ctx context.Context, base *policy.Model, tasks []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Tuner, error) {
	t, err := prepare(base, tasks, data, cfg, opts)
	if err != nil {
		return nil, err
	}
	if t.dir.Path != "" {
		if err := t.dir.Claim(cfg, opts.Overwrite, BeforeFile, ResultsFile, EVAStateFile, TimingFile, "results.md", "learning_curve.png"); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	}
	if k := cfg.optimizerKind(); cfg.Method != MethodFull && k == nn.OptimizerLAMB {
		t.opts.Log.WithFields(logrus.Fields{"method": cfg.Method, "mode": cfg.Mode}).Warn(
			"LAMB scales each step by the tensor's norm: zero-initialised adapter matrices (LoRA's B) barely move; AdamW is the usual choice for adapters")
	}
	if err := t.measureBefore(ctx); err != nil {
		return nil, err
	}
	evaStart := time.Now()
	if err := t.attach(ctx); err != nil {
		return nil, err
	}
	if cfg.Method == MethodEVA && cfg.EVA.State == "" {
		t.evaSeconds = time.Since(evaStart).Seconds()
	}
	if t.dir.Path != "" {
		// Timings stay out of the checkpoints, which must not depend on the machine.
		if err := t.dir.WriteJSON(TimingFile, timing{EVASeconds: t.evaSeconds, EVATiming: t.evaTiming}); err != nil {
			return nil, err
		}
	}
	if err := t.buildTrainer(); err != nil {
		return nil, err
	}
	t.setTrain(true)
	return t, nil
}

// setTrain switches the model's and the adapters' dropout on (training) or off.
func (t *Tuner) setTrain(on bool) {
	t.model.SetTrain(on)
	if t.adapters != nil {
		t.adapters.SetTrain(on)
	}
}

// prepare checks the inputs and builds what New and Resume share.
func prepare(base *policy.Model, tasks []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Tuner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if base == nil {
		return nil, errors.New("finetune: nil base policy")
	}
	if len(tasks) == 0 {
		return nil, errors.New("finetune: no tasks")
	}
	if cfg.Mode == ModeOnline && len(tasks) != 1 {
		return nil, fmt.Errorf("finetune: online mode adapts to one task; %d given", len(tasks))
	}
	if opts.Metrics == "" {
		opts.Metrics = "metrics.jsonl"
	}
	if opts.Log == nil {
		opts.Log = quietLogger()
	}
	mc := base.Config()
	if err := agents.CheckTasks(mc, tasks); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	eps := OnlyTasks(data, tasks)
	if len(eps) == 0 {
		return nil, fmt.Errorf("finetune: the data holds no episode of the tasks %v", taskIDs(tasks))
	}
	if err := agents.CheckEpisodes(mc, eps); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if err := checkDataSeeds(eps, cfg.Eval); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if n := agents.LongestEpisode(eps); n > mc.MaxEpisodeLen {
		opts.Log.WithFields(logrus.Fields{"longest_episode": n, "max_episode_len": mc.MaxEpisodeLen}).
			Warn("the data's episodes run past the policy's max_episode_len: their later steps share its last timestep embedding")
	}
	if err := CheckAdapters(base, cfg); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	rng, src := agents.Seed(cfg.Seed).Stream("train")
	pristine, err := base.Clone(nil)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	base.SetRand(rng)
	base.SetTrain(true)
	return &Tuner{cfg: cfg, opts: opts, dir: agents.RunDir{Path: opts.RunDir, Metrics: opts.Metrics}, tasks: tasks, data: eps, model: base, pristine: pristine,
		rng: rng, src: src, loop: agents.NewLoopState(), started: time.Now()}, nil
}

// quietLogger is the logger of a caller that gave none: it discards everything.
func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// attach gives the model the method's trainable parameters.
func (t *Tuner) attach(ctx context.Context) error {
	cfg := t.cfg
	arng, _ := agents.Seed(cfg.Seed).Stream("adapters")
	var err error
	switch cfg.Method {
	case MethodFull:
		return nil
	case MethodEVA:
		if t.evaState, err = t.evaPass(ctx); err != nil {
			return err
		}
		t.adapters, err = eva.Apply(t.model, cfg.LoRA, t.evaState, lora.Options{Rng: arng})
	default:
		t.adapters, err = lora.Apply(t.model, adapterConfig(cfg), lora.Options{Rng: arng})
	}
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	t.opts.Log.WithField("adapters", t.adapters.Report().String()).Info("adapters attached")
	return nil
}

// adapterConfig is the LoRA config that attach applies for cfg.Method: the lora
// section with the method's initialisation.
func adapterConfig(cfg Config) lora.Config {
	lc := cfg.LoRA
	switch cfg.Method {
	case MethodLoRA:
		lc.Init = lora.InitRandom
	case MethodEVA:
		lc.Init = lora.InitEVA
	default:
		lc.Init = cfg.Method
	}
	return lc
}

// CheckAdapters reports the first reason New would refuse cfg's adapters on base
// (a target entry or pattern that selects nothing, a rank too large, for eva no
// Linear target or an EVA minibatch too large for the model) without evaluating or
// attaching anything. New and Resume call it before they touch the run directory,
// ComputeEVA before its rollouts, and an experiment's plan for every run before the
// first one starts.
func CheckAdapters(base *policy.Model, cfg Config) error {
	if cfg.Method == MethodFull {
		return nil
	}
	if err := lora.Check(base, adapterConfig(cfg)); err != nil {
		return err
	}
	if cfg.Method != MethodEVA {
		return nil
	}
	if _, err := eva.Targets(base, cfg.LoRA); err != nil {
		return err
	}
	if cfg.EVA.State == "" {
		return base.Config().CheckBatchSize("eva.batch", cfg.EVA.Batch)
	}
	return nil
}

// evaPass loads the configured EVA state, or computes it (saving it in the run
// directory).
func (t *Tuner) evaPass(ctx context.Context) (*eva.State, error) {
	if t.cfg.EVA.State != "" {
		st, err := eva.Load(t.cfg.EVA.State)
		if err != nil {
			return nil, fmt.Errorf("finetune: eva.state: %w", err)
		}
		return st, nil
	}
	st, tm, err := ComputeEVA(ctx, t.model, t.tasks, t.data, t.cfg.LoRA, t.cfg.EVA, t.cfg.Eval.Targets[0], agents.Seed(t.cfg.Seed), t.opts.Log)
	t.evaTiming = tm
	if err != nil {
		return nil, err
	}
	if t.dir.Path != "" {
		if err := st.Save(filepath.Join(t.dir.Path, EVAStateFile)); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	}
	return st, nil
}

// trainable is what the optimiser updates: nil (every trainable weight) for full
// fine-tuning, the adapters' parameters otherwise.
func (t *Tuner) trainable() []*nn.Param {
	if t.adapters == nil {
		return nil
	}
	return t.adapters.Params().All()
}

// buildTrainer makes the offline or online trainer.
func (t *Tuner) buildTrainer() error {
	if t.cfg.Mode == ModeOnline {
		on, err := agents.NewOnline(t.model, t.trainable(), t.tasks[0], t.data, t.cfg.Online, t.rng)
		if err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
		t.online, t.trainer, t.opt = on, on, on.Optimizer()
		return nil
	}
	sampler, err := replay.NewSampler(t.data)
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	off, err := agents.NewOffline(t.model, t.trainable(), sampler, t.cfg.Train, t.rng)
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	t.offline, t.trainer, t.opt = off, off, off.Optimizer()
	return nil
}

// Model is the policy being fine-tuned (with its adapters attached, unmerged).
func (t *Tuner) Model() *policy.Model { return t.model }

// Adapters are the attached adapters (nil for method full).
func (t *Tuner) Adapters() *lora.Model { return t.adapters }

// EVAState is the EVA state the adapters were initialised from (nil unless method
// eva, and after Resume).
func (t *Tuner) EVAState() *eva.State { return t.evaState }

// Config is the run's configuration.
func (t *Tuner) Config() Config { return t.cfg }

// Step is the number of updates taken.
func (t *Tuner) Step() int { return t.trainer.StepCount() }

// Counts returns the number of the policy's parameters and of those that train.
func (t *Tuner) Counts() (total, trainable int) {
	total, _ = t.model.Params().Count()
	for _, p := range t.opt.Params() {
		trainable += p.Size()
	}
	return total, trainable
}

// Save writes a checkpoint of the run as it stands into dir: the adapter (PEFT's
// layout: adapter_config.json + adapter_model.safetensors) or, for method full, the
// whole policy (config.json + model.safetensors), and the trainer's state
// (trainer_state.json, optimizer.safetensors, and for online mode the replay
// buffer). A checkpoint is what LoadPolicy loads and what Resume continues from.
// Every file is written to a temporary name and renamed.
func (t *Tuner) Save(dir string) error { return t.save(dir, t.loop) }

func (t *Tuner) save(dir string, loop agents.LoopState) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("finetune: save: %w", err)
	}
	if t.adapters != nil {
		// The adapters hold their training-mode switch; the file does not.
		if err := t.adapters.Save(dir, t.opts.Base); err != nil {
			return fmt.Errorf("finetune: save: %w", err)
		}
	} else if err := t.model.Save(dir); err != nil {
		return fmt.Errorf("finetune: save: %w", err)
	}
	st := agents.TrainState{Loop: loop}
	if t.adapters != nil {
		drop, err := t.adapters.DropoutState()
		if err != nil {
			return fmt.Errorf("finetune: save: %w", err)
		}
		st.Streams = map[string][]byte{streamAdapterDropout: drop}
	}
	if t.online != nil {
		return t.online.SaveState(dir, t.src, st)
	}
	return agents.SaveTrainState(dir, st, t.src, t.opt.State())
}

// streamAdapterDropout names the adapters' dropout streams in the trainer state.
const streamAdapterDropout = "adapter_dropout"

// Resume continues the run in runDir from its last checkpoint (runDir/last), with
// the same base policy, tasks, data and configuration it was started with; only
// the step budget may change (ResumableFields), and any other difference from the
// run's saved config.json is an error listing the fields. The resumed run's
// checkpoints, metrics and results are those an uninterrupted run would have
// written. When runDir holds no checkpoint yet, Resume returns an error wrapping
// ErrNoCheckpoint: start a new run with New (and Overwrite) instead.
func Resume(ctx context.Context, runDir string, base *policy.Model, tasks []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Tuner, error) {
	if opts.RunDir != "" && filepath.Clean(opts.RunDir) != filepath.Clean(runDir) {
		return nil, fmt.Errorf("finetune: resume %s with Options.RunDir %s: want the same directory (or leave it empty)", runDir, opts.RunDir)
	}
	opts.RunDir = runDir
	if opts.Metrics == "" {
		opts.Metrics = "metrics.jsonl"
	}
	rd := agents.RunDir{Path: runDir, Metrics: opts.Metrics}
	if !rd.HasCheckpoint("last") {
		return nil, fmt.Errorf("finetune: %w: %s has no complete last/ checkpoint", ErrNoCheckpoint, runDir)
	}
	last, err := rd.Checkpoint("last")
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if err := rd.CheckResume(cfg, ResumableFields); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	t, err := prepare(base, tasks, data, cfg, opts)
	if err != nil {
		return nil, err
	}
	t.resumed = true
	if err := rd.ReadJSON(BeforeFile, &t.before); err != nil {
		return nil, fmt.Errorf("finetune: resume: the evaluation before fine-tuning: %w", err)
	}
	if err := t.measureReferences(ctx); err != nil {
		return nil, err
	}
	arng, _ := agents.Seed(cfg.Seed).Stream("adapters")
	if cfg.Method == MethodFull {
		saved, err := policy.Load(last, t.model.Gemm())
		if err != nil {
			return nil, fmt.Errorf("finetune: resume: %w", err)
		}
		if err := copyWeights(t.model, saved); err != nil {
			return nil, fmt.Errorf("finetune: resume %s: %w", last, err)
		}
	} else if t.adapters, err = lora.Load(last, t.model, lora.Options{Rng: arng}); err != nil {
		return nil, fmt.Errorf("finetune: resume: %w", err)
	}
	if err := t.buildTrainer(); err != nil {
		return nil, err
	}
	var st agents.TrainState
	if t.online != nil {
		if st, err = t.online.LoadState(last, t.src); err != nil {
			return nil, fmt.Errorf("finetune: resume: %w", err)
		}
	} else {
		var opt nn.AdamWState
		if st, opt, err = agents.LoadTrainState(last, t.src); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
		if err := t.offline.Restore(st.Step(), opt); err != nil {
			return nil, fmt.Errorf("finetune: resume: %w", err)
		}
	}
	t.loop = st.Loop
	if t.adapters != nil {
		if err := t.adapters.SetDropoutState(st.Streams[streamAdapterDropout]); err != nil {
			return nil, fmt.Errorf("finetune: resume %s: %w", last, err)
		}
	}
	var tm timing
	if err := rd.ReadJSON(TimingFile, &tm); err == nil {
		t.evaSeconds, t.evaTiming = tm.EVASeconds, tm.EVATiming
	}
	t.setTrain(true)
	if t.loop.Step > cfg.Steps() {
		return nil, fmt.Errorf("finetune: resume: the checkpoint is at update %d, past the configured %d", t.loop.Step, cfg.Steps())
	}
	t.opts.Log.WithFields(logrus.Fields{"run_dir": runDir, "step": t.loop.Step, "evaluated": t.loop.Evaluated}).Info("resuming")
	return t, nil
}

// timing is what a run records of its durations before training (TimingFile).
type timing struct {
	EVASeconds float64 `json:"eva_seconds"`
	EVATiming
}

// ErrNoCheckpoint is returned (wrapped) by Resume when the run directory has no
// checkpoint to continue from.
var ErrNoCheckpoint = errors.New("no checkpoint to resume from")

// copyWeights copies every parameter of src into dst (same architecture).
func copyWeights(dst, src *policy.Model) error {
	for _, p := range src.Params().All() {
		q, ok := dst.Params().Get(p.Name)
		if !ok || len(q.Data) != len(p.Data) {
			return fmt.Errorf("parameter %s does not match the base policy", p.Name)
		}
		copy(q.Data, p.Data)
	}
	mean, std := src.StateNorm()
	return dst.SetStateNorm(mean, std)
}

// OnlyTasks keeps the episodes of the given tasks.
func OnlyTasks(eps []*replay.Episode, tasks []envs.Task) []*replay.Episode {
	ids := map[string]bool{}
	for _, t := range tasks {
		ids[t.ID] = true
	}
	var out []*replay.Episode
	for _, ep := range eps {
		if ids[ep.TaskID] {
			out = append(out, ep)
		}
	}
	return out
}

func taskIDs(tasks []envs.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

// checkDataSeeds refuses data whose episodes reset with a validation or test seed:
// with varied starts, a reset seed fixes the start state, so such an episode would
// be a training episode on the evaluation's starting states.
func checkDataSeeds(eps []*replay.Episode, ev EvalConfig) error {
	for _, r := range []agents.SeedRange{ev.ValidationRange(), ev.TestRange()} {
		for i, ep := range eps {
			if ep.Seed >= r.First && ep.Seed < r.First+r.Count {
				return fmt.Errorf("data episode %d (task %s) resets with seed %d, one of the %s: collect the data with other seeds, or move the evaluation seeds", i, ep.TaskID, ep.Seed, r.Name)
			}
		}
	}
	return nil
}

// Start is New, or with resume Resume of the run in opts.RunDir; a run directory
// with no checkpoint yet is started anew (replacing what an interrupted start left).
// It reports whether the run was resumed.
func Start(ctx context.Context, resume bool, base *policy.Model, tasks []envs.Task, data []*replay.Episode, cfg Config, opts Options) (*Tuner, bool, error) {
	if resume {
		t, err := Resume(ctx, opts.RunDir, base, tasks, data, cfg, opts)
		if !errors.Is(err, ErrNoCheckpoint) {
			return t, err == nil, err
		}
		if opts.Log != nil {
			opts.Log.WithField("run_dir", opts.RunDir).Warn("no checkpoint to resume from yet: starting the run anew")
		}
		opts.Overwrite = true
	}
	t, err := New(ctx, base, tasks, data, cfg, opts)
	return t, false, err
}
