package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newPretrainCmd) }

// pretrainConfig configures `rl-train pretrain` (configs/pretrain-*.yaml).
type pretrainConfig struct {
	RunDir   string             `yaml:"run_dir"`   // output: checkpoints best/ and last/, metrics, curves, results
	Datasets []string           `yaml:"datasets"`  // episode files (rl-train collect) to train on
	TaskSet  string             `yaml:"task_set"`  // the pretraining tasks, evaluated during training
	HeldOut  string             `yaml:"held_out"`  // held-out tasks, evaluated zero-shot at the end ("" for none)
	Model    policy.Config      `yaml:"model"`     // the DT; state_dim and action come from the environment
	Train    agents.TrainConfig `yaml:"train"`     // optimisation
	Eval     evalSection        `yaml:"eval"`      // evaluation schedule and targets
	LogEvery int                `yaml:"log_every"` // updates between training-metric rows
	Metrics  string             `yaml:"metrics"`   // metrics file name in run_dir: .jsonl or .csv
	Seed     uint64             `yaml:"seed"`      // seeds initialisation, sampling and dropout
	BLAS     string             `yaml:"blas"`      // auto, openblas or gonum
	Export   string             `yaml:"export"`    // copy the best checkpoint here at the end ("" for none)
}

func defaultPretrainConfig() pretrainConfig {
	m := policy.DefaultConfig(1, policy.ActionSpace{Discrete: 2})
	m.StateDim, m.Action = 0, policy.ActionSpace{}
	return pretrainConfig{
		RunDir:   "runs/pretrain",
		Model:    m,
		Train:    agents.DefaultTrainConfig(10000),
		Eval:     defaultEvalSection(),
		LogEvery: 100,
		Metrics:  "metrics.jsonl",
		BLAS:     "auto",
	}
}

func newPretrainCmd(a *app) *cobra.Command {
	var resume bool
	var steps int
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Pretrain a Decision Transformer on the datasets of a task family",
		Long: `Pretrain a Decision Transformer by return-conditioned supervised learning on
multi-task datasets (rl-train collect), evaluating it on the pretraining tasks during
training and zero-shot on the held-out tasks at the end. Writes best/ and last/
checkpoints, metrics, a learning-curve PNG and results.json into run_dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultPretrainConfig()
			if ok, err := a.loadConfig(&cfg); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("pretrain needs --config FILE (see configs/pretrain-*.yaml)")
			}
			if steps > 0 {
				cfg.Train = cfg.Train.WithSteps(steps)
			}
			return runPretrain(cmd.Context(), a, cfg, resume)
		},
	}
	cmd.Flags().BoolVar(&resume, "resume", false, "continue from run_dir/last exactly as an uninterrupted run would")
	cmd.Flags().IntVar(&steps, "steps", 0, "override train.steps (a short run for a smoke test)")
	return cmd
}

func (c *pretrainConfig) validate() error {
	switch {
	case c.RunDir == "":
		return fmt.Errorf("pretrain: run_dir is empty")
	case c.TaskSet == "":
		return fmt.Errorf("pretrain: task_set is empty; want e.g. gridworld/pretrain (see rl-train envs)")
	case c.Model.StateDim != 0 || c.Model.Action.Discrete != 0 || c.Model.Action.Dim != 0:
		return fmt.Errorf("pretrain: model.state_dim and model.action come from the environment; remove them from the config")
	case c.LogEvery <= 0:
		return fmt.Errorf("pretrain: log_every = %d, want > 0", c.LogEvery)
	}
	if _, err := metrics.FormatOf(c.Metrics); err != nil {
		return fmt.Errorf("pretrain: metrics: %w", err)
	}
	if err := c.Train.Validate(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if err := c.Eval.validate(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	return nil
}

func runPretrain(ctx context.Context, a *app, cfg pretrainConfig, resume bool) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	set, err := envs.LookupTaskSet(cfg.TaskSet)
	if err != nil {
		return err
	}
	var heldOut []envs.Task
	if cfg.HeldOut != "" {
		h, err := envs.LookupTaskSet(cfg.HeldOut)
		if err != nil {
			return err
		}
		heldOut = h.Tasks
	}
	// The policy's spaces come from the family's environment.
	env, err := set.Tasks[0].Make()
	if err != nil {
		return err
	}
	mc := cfg.Model
	mc.StateDim = env.ObservationSpace().Dim()
	if mc.Action, err = agents.ActionSpaceOf(env.ActionSpace()); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if mc.Action.IsDiscrete() {
		mc.Head = policy.HeadCategorical
	} else if mc.Head == policy.HeadCategorical {
		mc.Head = policy.HeadDeterministic
	}
	if err := mc.Validate(); err != nil {
		return fmt.Errorf("pretrain: model: %w", err)
	}
	eps, err := loadEpisodes(cfg.Datasets, envIDs(set.Tasks))
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if eps[0].ObsDim != mc.StateDim || eps[0].ActDim != mc.Action.Width() {
		return fmt.Errorf("pretrain: datasets have observation/action sizes %d/%d, the environment %d/%d", eps[0].ObsDim, eps[0].ActDim, mc.StateDim, mc.Action.Width())
	}
	gemm, err := a.selectGemm(cfg.BLAS)
	if err != nil {
		return err
	}
	if err := ensureDir(cfg.RunDir); err != nil {
		return err
	}
	rng, src := agents.NewRand(cfg.Seed)
	last := filepath.Join(cfg.RunDir, "last")
	var model *policy.Model
	if resume {
		if model, err = policy.LoadRand(last, gemm, rng); err != nil {
			return fmt.Errorf("pretrain --resume: %w", err)
		}
	} else {
		if model, err = policy.New(mc, rng, gemm); err != nil {
			return err
		}
		norm, err := replay.ComputeNormStats(eps, 0)
		if err != nil {
			return err
		}
		if err := model.SetStateNorm(toFloat32(norm.Mean), toFloat32(norm.Std)); err != nil {
			return err
		}
	}
	sampler, err := replay.NewSampler(eps, agents.RawSamplerConfig(model), replay.IdentityNorm(mc.StateDim))
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	trainer, err := agents.NewOffline(model, nil, sampler, cfg.Train, rng)
	if err != nil {
		return err
	}
	best, keepUpTo := math.Inf(-1), -1
	if resume {
		st, opt, err := agents.LoadTrainState(last, src)
		if err != nil {
			return err
		}
		if err := trainer.Restore(st.Step, opt); err != nil {
			return fmt.Errorf("pretrain --resume: %w", err)
		}
		best, keepUpTo = st.Best, st.Step
	}
	total, trainable := model.Params().Count()
	a.log.WithFields(logrus.Fields{"run_dir": cfg.RunDir, "task_set": cfg.TaskSet, "episodes": len(eps), "transitions": sampler.Transitions(),
		"params": total, "trainable": trainable, "steps": cfg.Train.Steps, "resume_step": max(keepUpTo, 0), "seed": cfg.Seed}).Info("pretrain")

	refs, err := agents.ComputeReferences(ctx, append(append([]envs.Task(nil), set.Tasks...), heldOut...), cfg.Eval.RefEpisodes, cfg.Eval.Seed)
	if err != nil {
		return err
	}
	columns := []string{"train/loss", "train/grad_norm", "train/lr", "time/elapsed_s", "eval/score", "eval/return", "eval/normalized", "eval/success_rate", "time/eval_s"}
	ml, err := metrics.Open(filepath.Join(cfg.RunDir, cfg.Metrics), columns, keepUpTo)
	if err != nil {
		return err
	}
	hooks := agents.LoopHooks{
		Metrics:  ml,
		Log:      a.log,
		Progress: a.newProgress("pretrain", cfg.Train.Steps-trainer.StepCount()),
		Evaluate: func(ctx context.Context, step int) (agents.EvalReport, error) {
			res, err := agents.Evaluate(ctx, model, set.Tasks, cfg.Eval.config(cfg.Eval.Episodes, refs), nil)
			if err != nil {
				return agents.EvalReport{}, err
			}
			s, row := evalRow(firstTarget(res, cfg.Eval.Targets[0]))
			return agents.EvalReport{Score: score(s), Values: row}, nil
		},
		Save: func(kind string, step int, best float64) error {
			return saveCheckpoint(filepath.Join(cfg.RunDir, kind), model, agents.TrainState{Step: step, Best: best}, src, trainer.Optimizer().State())
		},
	}
	loop := agents.LoopConfig{Steps: cfg.Train.Steps, LogEvery: cfg.LogEvery, EvalEvery: cfg.Eval.Every}
	_, err = agents.RunLoop(ctx, loop, trainer, hooks, best)
	if curveErr := learningCurves(filepath.Join(cfg.RunDir, "learning_curve.png"), "pretrain "+cfg.TaskSet, ml.Rows()); curveErr != nil && err == nil {
		a.log.WithError(curveErr).Warn("learning curve")
	}
	if err != nil {
		if errors.Is(err, agents.ErrInterrupted) {
			a.log.WithField("checkpoint", last).Warn("interrupted; resume with --resume")
		}
		return err
	}
	return finishPretrain(ctx, a, cfg, gemm, set, heldOut, refs)
}

// finishPretrain evaluates the best checkpoint on the pretraining and held-out tasks,
// writes results.json and results.md, and exports the checkpoint.
func finishPretrain(ctx context.Context, a *app, cfg pretrainConfig, gemm nn.Gemm, set envs.TaskSet, heldOut []envs.Task, refs map[string]agents.Reference) error {
	bestDir := filepath.Join(cfg.RunDir, "best")
	model, err := policy.Load(bestDir, gemm)
	if err != nil {
		return err
	}
	results := map[string][]agents.EvalResult{}
	groups := []struct {
		name  string
		tasks []envs.Task
	}{{"pretrain", set.Tasks}, {"heldout", heldOut}}
	for _, g := range groups {
		if len(g.tasks) == 0 {
			continue
		}
		res, err := agents.Evaluate(ctx, model, g.tasks, cfg.Eval.config(cfg.Eval.Final, refs), nil)
		if err != nil {
			return err
		}
		results[g.name] = res
		s, _ := evalRow(firstTarget(res, cfg.Eval.Targets[0]))
		a.log.WithFields(summaryFields(s)).WithField("tasks", g.name).Info("final evaluation")
	}
	if err := writeJSON(filepath.Join(cfg.RunDir, "results.json"), results); err != nil {
		return err
	}
	md := resultsMarkdown(results, refs)
	if err := metrics.WriteFileAtomic(filepath.Join(cfg.RunDir, "results.md"), []byte(md)); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, md)
	if cfg.Export != "" {
		if err := exportCheckpoint(bestDir, cfg.Export, filepath.Join(cfg.RunDir, "results.md")); err != nil {
			return err
		}
		a.log.WithField("dir", cfg.Export).Info("exported")
	}
	return nil
}

// firstTarget keeps the results at the target that scores checkpoints.
func firstTarget(res []agents.EvalResult, target float64) []agents.EvalResult {
	var out []agents.EvalResult
	for _, r := range res {
		if r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

// saveCheckpoint writes model and train state into dir through a temporary directory,
// so dir is always a complete checkpoint.
func saveCheckpoint(dir string, model *policy.Model, st agents.TrainState, src *rand.PCG, opt nn.AdamWState) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := ensureDir(tmp); err != nil {
		return err
	}
	if err := model.Save(tmp); err != nil {
		return err
	}
	if err := agents.SaveTrainState(tmp, st, src, opt); err != nil {
		return err
	}
	return replaceDir(tmp, dir)
}

// exportCheckpoint copies a checkpoint's model files (not its train state) and the
// results table into dst.
func exportCheckpoint(src, dst, results string) error {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := ensureDir(tmp); err != nil {
		return err
	}
	for _, f := range []string{filepath.Join(src, policy.ConfigFile), filepath.Join(src, policy.WeightsFile), results} {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := metrics.WriteFileAtomic(filepath.Join(tmp, filepath.Base(f)), data); err != nil {
			return err
		}
	}
	return replaceDir(tmp, dst)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
