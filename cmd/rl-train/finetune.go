package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newFinetuneCmd) }

// Fine-tuning methods: which parameters train and how adapters start.
const (
	MethodFull  = "full"  // every weight of the policy trains
	MethodLoRA  = "lora"  // LoRA adapters, PEFT's default init (Kaiming-uniform A, B = 0)
	MethodPiSSA = "pissa" // adapters from the top singular triplets of W
	MethodOLoRA = "olora" // adapters from a QR decomposition of W
	MethodEVA   = "eva"   // adapters from the activations' top right-singular vectors
)

var methods = []string{MethodFull, MethodLoRA, MethodPiSSA, MethodOLoRA, MethodEVA}

// Fine-tuning modes.
const (
	ModeOffline = "offline" // return-conditioned supervised learning on the target tasks' data
	ModeOnline  = "online"  // the Online Decision Transformer: exploration into a replay buffer seeded with the data
)

// finetuneConfig configures `rl-train finetune` (configs/finetune-*.yaml).
type finetuneConfig struct {
	RunDir   string              `yaml:"run_dir"`   // output: best/ and last/ (adapter or full checkpoint), metrics, curves, results
	Base     string              `yaml:"base"`      // the pretrained checkpoint directory
	Tasks    string              `yaml:"tasks"`     // target tasks: a task set key or comma-separated task ids
	Method   string              `yaml:"method"`    // full, lora, pissa, olora or eva
	Mode     string              `yaml:"mode"`      // offline (supervised on the datasets) or online (Online Decision Transformer, seeded with them)
	Datasets []string            `yaml:"datasets"`  // offline data of the target tasks (episodes of other tasks are ignored)
	LoRA     lora.Config         `yaml:"lora"`      // adapter rank, alpha, targets (init is set by method)
	EVA      evaSection          `yaml:"eva"`       // the EVA pass (method eva)
	Train    agents.TrainConfig  `yaml:"train"`     // optimisation (offline mode)
	Online   agents.OnlineConfig `yaml:"online"`    // exploration, buffer, temperature and optimisation (online mode)
	Eval     evalSection         `yaml:"eval"`      // evaluation schedule and targets
	LogEvery int                 `yaml:"log_every"` // updates between training-metric rows
	Metrics  string              `yaml:"metrics"`   // metrics file name in run_dir: .jsonl or .csv
	Seed     uint64              `yaml:"seed"`      // seeds adapters, sampling, dropout and rollouts
	BLAS     string              `yaml:"blas"`      // auto, openblas or gonum

	// before, when set, is the pretrained policy's evaluation on these tasks, reused
	// instead of evaluated again (an experiment evaluates the base once per family).
	before []agents.EvalResult
}

func defaultFinetuneConfig() finetuneConfig {
	tc := agents.DefaultTrainConfig(2000)
	tc.Schedule.LR = 1e-3
	return finetuneConfig{
		RunDir:   "runs/finetune",
		Method:   MethodEVA,
		Mode:     ModeOffline,
		Online:   agents.DefaultOnlineConfig(),
		LoRA:     lora.DefaultConfig(),
		EVA:      evaSection{Config: eva.DefaultConfig(), Source: "rollouts", RolloutEpisodes: 16, RolloutTarget: math.NaN(), RolloutMaxSteps: 100, Batch: 16},
		Train:    tc,
		Eval:     defaultEvalSection(),
		LogEvery: 50,
		Metrics:  "metrics.jsonl",
		BLAS:     "auto",
	}
}

func newFinetuneCmd(a *app) *cobra.Command {
	var resume bool
	var method string
	var steps int
	var seed int64
	cmd := &cobra.Command{
		Use:   "finetune",
		Short: "Adapt a pretrained Decision Transformer to target tasks (full, lora, pissa, olora or eva)",
		Long: `Fine-tune a pretrained Decision Transformer on target tasks by return-conditioned
supervised learning on their datasets. Methods: full (every weight), lora (PEFT's
default init), pissa, olora, eva (adapters initialised from the policy's own
activations on the target tasks). LoRA methods save only the adapter (PEFT layout).
Evaluates before and after; writes best/, last/, metrics, a learning-curve PNG and
results.json / results.md into run_dir. Ctrl-C saves last/ for --resume.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultFinetuneConfig()
			if ok, err := a.loadConfig(&cfg); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("finetune needs --config FILE (see configs/finetune-*.yaml)")
			}
			if method != "" {
				cfg.Method = method
			}
			if steps > 0 {
				cfg.Train = cfg.Train.WithSteps(steps)
			}
			if seed >= 0 {
				cfg.Seed = uint64(seed)
			}
			_, err := runFinetune(cmd.Context(), a, cfg, resume)
			return err
		},
	}
	cmd.Flags().BoolVar(&resume, "resume", false, "continue from run_dir/last exactly as an uninterrupted run would")
	cmd.Flags().StringVar(&method, "method", "", "override method: "+strings.Join(methods, ", "))
	cmd.Flags().IntVar(&steps, "steps", 0, "override train.steps")
	cmd.Flags().Int64Var(&seed, "seed", -1, "override seed")
	return cmd
}

func (c *finetuneConfig) validate() error {
	known := false
	for _, m := range methods {
		known = known || c.Method == m
	}
	switch {
	case !known:
		return fmt.Errorf("finetune: method %q: want one of %s", c.Method, strings.Join(methods, ", "))
	case c.RunDir == "":
		return fmt.Errorf("finetune: run_dir is empty")
	case c.Base == "":
		return fmt.Errorf("finetune: base is empty; want a pretrained checkpoint directory such as pretrained/gridworld")
	case c.Tasks == "":
		return fmt.Errorf("finetune: tasks is empty; want a task set or task ids such as gridworld/heldout-01")
	case c.LogEvery <= 0:
		return fmt.Errorf("finetune: log_every = %d, want > 0", c.LogEvery)
	case c.Mode != ModeOffline && c.Mode != ModeOnline:
		return fmt.Errorf("finetune: mode %q: want %s or %s", c.Mode, ModeOffline, ModeOnline)
	case c.Method == MethodEVA && c.EVA.Source != "rollouts" && c.EVA.Source != "dataset":
		return fmt.Errorf("finetune: eva.source = %q, want rollouts or dataset", c.EVA.Source)
	case c.Method == MethodEVA && (c.EVA.RolloutEpisodes <= 0 || c.EVA.Batch <= 0 || c.EVA.RolloutMaxSteps < 0):
		return fmt.Errorf("finetune: eva.rollout_episodes = %d, eva.batch = %d, eva.rollout_max_steps = %d: want the first two > 0 and the last ≥ 0",
			c.EVA.RolloutEpisodes, c.EVA.Batch, c.EVA.RolloutMaxSteps)
	}
	if _, err := metrics.FormatOf(c.Metrics); err != nil {
		return fmt.Errorf("finetune: metrics: %w", err)
	}
	if c.Mode == ModeOnline {
		if err := c.Online.Validate(); err != nil {
			return fmt.Errorf("finetune: online: %w", err)
		}
	} else if err := c.Train.Validate(); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	if err := c.Eval.validate(); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	if c.Method != MethodFull {
		lc := c.LoRA
		lc.Init = lora.InitRandom
		if err := lc.Validate(); err != nil {
			return fmt.Errorf("finetune: lora: %w", err)
		}
		if c.Method == MethodEVA {
			if err := c.EVA.Config.Validate(); err != nil {
				return fmt.Errorf("finetune: %w", err)
			}
		}
	}
	return nil
}

// finetuneResult is what a fine-tuning run reports (results.json).
type finetuneResult struct {
	Method         string                         `json:"method"`
	Mode           string                         `json:"mode"`
	Tasks          []string                       `json:"tasks"`
	Seed           uint64                         `json:"seed"`
	Before         agents.Summary                 `json:"before"`
	After          agents.Summary                 `json:"after"`
	PerTask        map[string][]agents.EvalResult `json:"per_task"`
	Params         int                            `json:"params"`
	Trainable      int                            `json:"trainable_params"`
	Steps          int                            `json:"steps"`
	StepsTo90      int                            `json:"steps_to_90pct"` // first evaluated step reaching 90 % of the final score (−1: never)
	EVASeconds     float64                        `json:"eva_seconds"`
	TrainSeconds   float64                        `json:"train_seconds"`
	WallSeconds    float64                        `json:"wall_seconds"` // the whole run: references, evaluations, EVA, training
	EVAShare       float64                        `json:"eva_share"`    // EVA pass / (EVA pass + training), wall time
	Ranks          map[string]int                 `json:"ranks,omitempty"`
	BestCheckpoint string                         `json:"best_checkpoint"`
}

// runFinetune runs one fine-tuning and returns its result.
func runFinetune(ctx context.Context, a *app, cfg finetuneConfig, resume bool) (*finetuneResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	runStart := time.Now()
	tasks, err := envs.ResolveTasks(cfg.Tasks)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if cfg.Mode == ModeOnline && len(tasks) != 1 {
		return nil, fmt.Errorf("finetune: online mode adapts to one task; tasks %q names %d", cfg.Tasks, len(tasks))
	}
	gemm, err := a.selectGemm(cfg.BLAS)
	if err != nil {
		return nil, err
	}
	if err := ensureDir(cfg.RunDir); err != nil {
		return nil, err
	}
	rng, src := agents.NewRand(cfg.Seed)
	last := filepath.Join(cfg.RunDir, "last")
	start := cfg.Base
	if resume && cfg.Method == MethodFull {
		start = last // a full fine-tune's checkpoints hold every weight
	}
	model, err := policy.LoadRand(start, gemm, rng)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	for _, t := range tasks {
		env, err := t.Make()
		if err != nil {
			return nil, err
		}
		if err := agents.CheckCompatible(model.Config(), env, t.EnvID); err != nil {
			return nil, fmt.Errorf("finetune: base %s cannot act in task %s: %w", cfg.Base, t.ID, err)
		}
	}
	refs, err := agents.ComputeReferences(ctx, tasks, cfg.Eval.RefEpisodes, cfg.Eval.Seed)
	if err != nil {
		return nil, err
	}
	res := &finetuneResult{Method: cfg.Method, Mode: cfg.Mode, Seed: cfg.Seed, PerTask: map[string][]agents.EvalResult{}, StepsTo90: -1}
	for _, t := range tasks {
		res.Tasks = append(res.Tasks, t.ID)
	}
	evaluate := func(ctx context.Context, m *policy.Model, episodes int) ([]agents.EvalResult, agents.Summary, error) {
		out, err := agents.Evaluate(ctx, m, tasks, cfg.Eval.config(episodes, refs), nil)
		if err != nil {
			return nil, agents.Summary{}, err
		}
		return out, agents.Summarize(firstTarget(out, cfg.Eval.Targets[0])), nil
	}
	// The pretrained policy's evaluation: given, saved by the run being resumed, or run.
	beforePath := filepath.Join(cfg.RunDir, "before.json")
	before := cfg.before
	if before == nil && resume {
		if err := readJSON(beforePath, &before); err != nil {
			return nil, fmt.Errorf("finetune --resume: the evaluation before fine-tuning: %w", err)
		}
	}
	if before == nil {
		if before, _, err = evaluate(ctx, model, cfg.Eval.Final); err != nil {
			return nil, err
		}
	}
	if err := writeJSON(beforePath, before); err != nil {
		return nil, err
	}
	res.PerTask["before"] = before
	res.Before = agents.Summarize(firstTarget(before, cfg.Eval.Targets[0]))
	a.log.WithFields(summaryFields(res.Before)).WithField("method", cfg.Method).Info("before fine-tuning")

	// The episodes of the target tasks, also the EVA pass's dataset source.
	eps, err := loadEpisodes(cfg.Datasets, envIDs(tasks))
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	eps = onlyTasks(eps, tasks)
	if len(eps) == 0 {
		return nil, fmt.Errorf("finetune: the datasets %v hold no episode of tasks %v", cfg.Datasets, res.Tasks)
	}

	// Attach the method's trainable parameters.
	var adapters *lora.Model
	var params []*nn.Param
	evaStart := time.Now()
	switch {
	case cfg.Method == MethodFull:
	case resume:
		if adapters, err = lora.Load(last, model, lora.Options{Rng: rng}); err != nil {
			return nil, fmt.Errorf("finetune --resume: %w", err)
		}
	case cfg.Method == MethodEVA:
		state, err := evaState(ctx, a, cfg, model, tasks, eps, rng)
		if err != nil {
			return nil, err
		}
		res.Ranks = map[string]int{}
		for _, l := range state.Layers {
			res.Ranks[l.Name] = l.Rank
		}
		if adapters, err = eva.Apply(model, cfg.LoRA, state, lora.Options{Rng: rng}); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	default:
		lc := cfg.LoRA
		lc.Init = cfg.Method
		if cfg.Method == MethodLoRA {
			lc.Init = lora.InitRandom
		}
		if adapters, err = lora.Apply(model, lc, lora.Options{Rng: rng}); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	}
	if cfg.Method == MethodEVA && !resume {
		res.EVASeconds = time.Since(evaStart).Seconds()
	}
	if adapters != nil {
		params = adapters.Params().All()
		a.log.WithField("adapters", adapters.Report().String()).Info("adapters attached")
	}

	// The trainer: offline supervised learning on the data, or the Online Decision
	// Transformer seeded with it. saveState adds its resumable state to a checkpoint.
	var (
		trainer   agents.Stepper
		optimizer *nn.AdamW
		steps     int
		saveState func(dir string, step int, best float64) error
	)
	best, keepUpTo := math.Inf(-1), -1
	if cfg.Mode == ModeOnline {
		on, err := agents.NewOnline(model, params, tasks[0], eps, cfg.Online, rng)
		if err != nil {
			return nil, err
		}
		trainer, optimizer, steps = on, on.Optimizer(), cfg.Online.TotalUpdates()
		saveState = func(dir string, _ int, best float64) error { return on.SaveState(dir, src, best) }
		if resume {
			st, err := on.LoadState(last, src)
			if err != nil {
				return nil, fmt.Errorf("finetune --resume: %w", err)
			}
			best, keepUpTo = st.Best, st.Step
		}
	} else {
		sampler, err := replay.NewSampler(eps, agents.RawSamplerConfig(model), replay.IdentityNorm(model.Config().StateDim))
		if err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
		off, err := agents.NewOffline(model, params, sampler, cfg.Train, rng)
		if err != nil {
			return nil, err
		}
		trainer, optimizer, steps = off, off.Optimizer(), cfg.Train.Steps
		saveState = func(dir string, step int, best float64) error {
			st := agents.TrainState{Step: step, Best: best, Extra: map[string]float64{"eva_seconds": res.EVASeconds}}
			return agents.SaveTrainState(dir, st, src, off.Optimizer().State())
		}
		if resume {
			st, opt, err := agents.LoadTrainState(last, src)
			if err != nil {
				return nil, err
			}
			if err := off.Restore(st.Step, opt); err != nil {
				return nil, fmt.Errorf("finetune --resume: %w", err)
			}
			best, keepUpTo = st.Best, st.Step
			res.EVASeconds = st.Extra["eva_seconds"]
		}
	}
	res.Params, _ = model.Params().Count()
	for _, p := range optimizer.Params() {
		res.Trainable += p.Size()
	}
	a.log.WithFields(logrus.Fields{"method": cfg.Method, "mode": cfg.Mode, "tasks": cfg.Tasks, "episodes": len(eps),
		"params": res.Params, "trainable": res.Trainable, "steps": steps, "seed": cfg.Seed}).Info("finetune")

	columns := []string{"train/loss", "train/grad_norm", "train/lr", "time/elapsed_s", "eval/score", "eval/return", "eval/normalized", "eval/success_rate", "time/eval_s"}
	ml, err := metrics.Open(filepath.Join(cfg.RunDir, cfg.Metrics), columns, keepUpTo)
	if err != nil {
		return nil, err
	}
	save := func(kind string, step int, best float64) error {
		dir := filepath.Join(cfg.RunDir, kind)
		tmp := dir + ".tmp"
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := ensureDir(tmp); err != nil {
			return err
		}
		if adapters != nil {
			if err := adapters.Save(tmp, cfg.Base); err != nil {
				return err
			}
		} else if err := model.Save(tmp); err != nil {
			return err
		}
		if err := saveState(tmp, step, best); err != nil {
			return err
		}
		return replaceDir(tmp, dir)
	}
	trainStart := time.Now()
	hooks := agents.LoopHooks{
		Metrics:  ml,
		Log:      a.log,
		Progress: a.newProgress("finetune "+cfg.Method, steps-trainer.StepCount()),
		Evaluate: func(ctx context.Context, step int) (agents.EvalReport, error) {
			if adapters != nil { // adapter dropout has its own switch
				adapters.SetTrain(false)
				defer adapters.SetTrain(true)
			}
			out, _, err := evaluate(ctx, model, cfg.Eval.Episodes)
			if err != nil {
				return agents.EvalReport{}, err
			}
			s, row := evalRow(firstTarget(out, cfg.Eval.Targets[0]))
			return agents.EvalReport{Score: score(s), Values: row}, nil
		},
		Save: save,
	}
	loop := agents.LoopConfig{Steps: steps, LogEvery: cfg.LogEvery, EvalEvery: cfg.Eval.Every}
	_, err = agents.RunLoop(ctx, loop, trainer, hooks, best)
	res.TrainSeconds = time.Since(trainStart).Seconds()
	if curveErr := learningCurves(filepath.Join(cfg.RunDir, "learning_curve.png"), "finetune "+cfg.Method+" "+cfg.Tasks, ml.Rows()); curveErr != nil && err == nil {
		a.log.WithError(curveErr).Warn("learning curve")
	}
	if err != nil {
		if errors.Is(err, agents.ErrInterrupted) {
			a.log.WithField("checkpoint", last).Warn("interrupted; resume with --resume")
		}
		return nil, err
	}
	res.Steps = steps
	res.EVAShare = res.EVASeconds / (res.EVASeconds + res.TrainSeconds)
	res.StepsTo90 = stepsTo90(ml.Rows())

	// The final evaluation runs the best checkpoint, loaded as a user would load it.
	res.BestCheckpoint = filepath.Join(cfg.RunDir, "best")
	bestModel, err := loadPolicy(finetunedPolicy(cfg.Base, res.BestCheckpoint, adapters != nil), finetunedAdapter(res.BestCheckpoint, adapters != nil), gemm)
	if err != nil {
		return nil, err
	}
	after, s, err := evaluate(ctx, bestModel, cfg.Eval.Final)
	if err != nil {
		return nil, err
	}
	res.After, res.PerTask["after"] = s, after
	a.log.WithFields(summaryFields(s)).WithField("method", cfg.Method).Info("after fine-tuning")
	res.WallSeconds = time.Since(runStart).Seconds()
	if err := writeJSON(filepath.Join(cfg.RunDir, "results.json"), res); err != nil {
		return nil, err
	}
	md := resultsMarkdown(res.PerTask, refs)
	if err := metrics.WriteFileAtomic(filepath.Join(cfg.RunDir, "results.md"), []byte(md)); err != nil {
		return nil, err
	}
	fmt.Fprint(a.stdout, md)
	return res, nil
}

// finetunedPolicy and finetunedAdapter name what loadPolicy loads for a fine-tuned
// checkpoint dir: the base plus the adapter in dir for LoRA methods, dir alone for
// full fine-tuning.
func finetunedPolicy(base, dir string, adapter bool) string {
	if adapter {
		return base
	}
	return dir
}

func finetunedAdapter(dir string, adapter bool) string {
	if adapter {
		return dir
	}
	return ""
}

// onlyTasks keeps the episodes of the given tasks.
func onlyTasks(eps []*replay.Episode, tasks []envs.Task) []*replay.Episode {
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

// stepsTo90 is the first evaluated step whose score reaches 90 % of the way from the
// first evaluation's score to the last one's (−1 without evaluations).
func stepsTo90(rows []metrics.Row) int {
	var steps []int
	var scores []float64
	for _, r := range rows {
		if v, ok := r.Values["eval/score"]; ok {
			steps, scores = append(steps, r.Step), append(scores, v)
		}
	}
	if len(scores) == 0 {
		return -1
	}
	first, final := scores[0], scores[len(scores)-1]
	for i, s := range scores {
		if s >= first+0.9*(final-first) {
			return steps[i]
		}
	}
	return steps[len(steps)-1]
}
