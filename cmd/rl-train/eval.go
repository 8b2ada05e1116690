package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all" // register every environment
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

// evalCmdConfig configures `rl-train eval` (configs/eval-*.yaml). Flags override it.
type evalCmdConfig struct {
	Checkpoint     string    `yaml:"checkpoint"`      // policy checkpoint directory (config.json + model.safetensors)
	Adapter        string    `yaml:"adapter"`         // LoRA adapter directory loaded onto the policy ("" for none)
	Label          string    `yaml:"label"`           // the run's name in tables ("" : checkpoint, + adapter)
	Tasks          string    `yaml:"tasks"`           // a task set key (gridworld/heldout) or a comma list of task ids
	Episodes       int       `yaml:"episodes"`        // episodes per task and target return
	Targets        []float64 `yaml:"targets"`         // target returns the policy is conditioned on
	NumEnvs        int       `yaml:"num_envs"`        // environments acted on in one batch
	Seed           int64     `yaml:"seed"`            // episode j resets with seed + j; also seeds sampled actions
	Greedy         bool      `yaml:"greedy"`          // take the most likely action (false: sample)
	RefEpisodes    int       `yaml:"ref_episodes"`    // episodes of random play and of the scripted expert per task (0: no normalised scores)
	Out            string    `yaml:"out"`             // directory for results.json and results.md ("" : stdout only)
	Record         string    `yaml:"record"`          // directory for replay files, one per task ("" : none)
	Render         string    `yaml:"render"`          // directory for GIFs, one per task ("" : none)
	RenderEpisodes int       `yaml:"render_episodes"` // episodes per task and target drawn into each GIF
	BLAS           string    `yaml:"blas"`            // auto, openblas or gonum
}

// defaultEvalCmdConfig matches the evaluation section of training runs (seed 1000,
// 10 reference episodes), so numbers from eval and from a run's results agree.
func defaultEvalCmdConfig() evalCmdConfig {
	return evalCmdConfig{Episodes: 20, NumEnvs: 16, Seed: 1000, Greedy: true, RefEpisodes: 10, RenderEpisodes: 1, BLAS: "auto"}
}

func (c evalCmdConfig) validate() error {
	switch {
	case c.Checkpoint == "":
		return errors.New("eval: checkpoint is empty; want --checkpoint DIR (a policy checkpoint directory with config.json and model.safetensors)")
	case c.Tasks == "":
		return errors.New("eval: tasks is empty; want --tasks with a task set such as gridworld/heldout or a comma list of task ids (see rl-train envs)")
	case c.RefEpisodes < 0:
		return fmt.Errorf("eval: ref_episodes = %d, want ≥ 0", c.RefEpisodes)
	case c.Render != "" && c.RenderEpisodes < 1:
		return fmt.Errorf("eval: render_episodes = %d, want ≥ 1", c.RenderEpisodes)
	}
	return c.evalConfig().Validate()
}

func (c evalCmdConfig) evalConfig() agents.EvalConfig {
	return agents.EvalConfig{Episodes: c.Episodes, Targets: c.Targets, NumEnvs: c.NumEnvs, Seed: c.Seed, Greedy: c.Greedy,
		Record: c.Record != "" || c.Render != ""}
}

// label names the evaluated policy in tables.
func (c evalCmdConfig) label() string {
	switch {
	case c.Label != "":
		return c.Label
	case c.Adapter != "":
		return c.Checkpoint + " + " + c.Adapter
	}
	return c.Checkpoint
}

func newEvalCmd(a *app) *cobra.Command {
	var targets string
	var sample bool
	cfg := defaultEvalCmdConfig()
	cmd := &cobra.Command{
		Use:   "eval --checkpoint DIR --tasks SET|IDS --targets R[,R…]",
		Short: "Evaluate a policy checkpoint (optionally with a LoRA adapter) on tasks at target returns",
		Long: `eval runs N episodes per task and target return (episode j resets with seed + j, so
results do not depend on --num-envs) and reports per task and target the mean, standard
deviation and 95 % confidence interval of the return, the success rate, the episode
length and the normalised score (random play = 0, the scripted expert = 100, measured on
the same seeds). It prints a Markdown table; --out writes results.json and results.md,
--record writes the episodes as replay files (one per task), --render draws them as GIFs.
Flags override the --config file (configs/eval-*.yaml). rl-train eval-merge combines
several evaluations into one table.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The flags are bound to cfg, and the file is read after them: set the flags
			// given on the command line again afterwards, so they win over the file.
			fl := cmd.Flags()
			given := map[string]string{}
			fl.Visit(func(f *pflag.Flag) { given[f.Name] = f.Value.String() })
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			fl.Visit(func(f *pflag.Flag) { _ = f.Value.Set(given[f.Name]) })
			if fl.Changed("greedy") && sample {
				return errors.New("eval: --greedy and --sample exclude each other")
			}
			if sample {
				cfg.Greedy = false
			}
			if fl.Changed("targets") {
				t, err := parseTargets(targets)
				if err != nil {
					return err
				}
				cfg.Targets = t
			}
			return runEval(cmd.Context(), a, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Checkpoint, "checkpoint", "", "policy checkpoint directory (required)")
	f.StringVar(&cfg.Adapter, "adapter", "", "LoRA adapter directory (adapter_config.json + adapter_model.safetensors) to load onto the policy")
	f.StringVar(&cfg.Label, "label", "", "name of this policy in tables (default: the checkpoint, + the adapter)")
	f.StringVar(&cfg.Tasks, "tasks", "", "task set (e.g. gridworld/heldout) or comma list of task ids (see rl-train envs)")
	f.IntVar(&cfg.Episodes, "episodes", cfg.Episodes, "episodes per task and target return")
	f.StringVar(&targets, "targets", "", "comma list of target returns, e.g. 1,0.5")
	f.IntVar(&cfg.NumEnvs, "num-envs", cfg.NumEnvs, "environments acted on in one batch")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "episode j resets with seed + j")
	f.BoolVar(&cfg.Greedy, "greedy", cfg.Greedy, "take the most likely action (the default)")
	f.BoolVar(&sample, "sample", false, "sample actions from the policy instead of taking the most likely one")
	f.IntVar(&cfg.RefEpisodes, "ref-episodes", cfg.RefEpisodes, "episodes of random play and of the scripted expert per task for normalised scores (0: none)")
	f.StringVar(&cfg.Out, "out", "", "directory for results.json and results.md")
	f.StringVar(&cfg.Record, "record", "", "directory for the episodes as replay files, <task>.evds")
	f.StringVar(&cfg.Render, "render", "", "directory for GIFs of the episodes, <task>.gif")
	f.IntVar(&cfg.RenderEpisodes, "render-episodes", cfg.RenderEpisodes, "episodes per task and target drawn into each GIF")
	f.StringVar(&cfg.BLAS, "blas", cfg.BLAS, "BLAS backend: auto, openblas or gonum")
	return cmd
}

// parseTargets reads a comma list of target returns; anything but a finite number is
// an error naming the value.
func parseTargets(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("eval: --targets: %q is not a finite number; want a comma list of target returns such as 1,0.5", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// loadEvalPolicy loads the checkpoint and, when given, the adapter (merged into the
// weights: evaluation only runs forward passes).
func loadEvalPolicy(a *app, cfg evalCmdConfig) (*policy.Model, error) {
	gemm, err := a.selectGemm(cfg.BLAS)
	if err != nil {
		return nil, err
	}
	model, err := loadPolicy(cfg.Checkpoint, cfg.Adapter, gemm)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return model, nil
}

// loadPolicy loads a policy checkpoint directory and, when adapter is not empty, the
// LoRA adapter directory onto it, merged into the weights: a policy ready to act,
// as fast as the base model (unmerged adapters cost a product per layer and keep the
// model on one lane).
func loadPolicy(checkpoint, adapter string, gemm nn.Gemm) (*policy.Model, error) {
	if st, err := os.Stat(checkpoint); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("checkpoint %s: not a directory; want a policy checkpoint directory with %s and %s",
			checkpoint, policy.ConfigFile, policy.WeightsFile)
	}
	model, err := policy.Load(checkpoint, gemm)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", checkpoint, err)
	}
	if adapter == "" {
		return model, nil
	}
	// The rng only seeds adapter dropout, which is off here.
	lm, err := lora.Load(adapter, model, lora.Options{Rng: rand.New(rand.NewPCG(0, 0))})
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", adapter, err)
	}
	lm.SetTrain(false)
	if err := lm.Merge(true); err != nil {
		return nil, fmt.Errorf("adapter %s: %w", adapter, err)
	}
	return model, nil
}

// checkTasks makes each task's environment once and checks that the policy can act
// in it, before any episode runs.
func checkTasks(model *policy.Model, tasks []envs.Task) error {
	for _, t := range tasks {
		env, err := t.Make()
		if err != nil {
			return fmt.Errorf("eval: task %s: %w", t.ID, err)
		}
		if err := agents.CheckCompatible(model.Config(), env, t.EnvID); err != nil {
			return fmt.Errorf("eval: task %s does not fit the checkpoint: %w", t.ID, err)
		}
	}
	return nil
}

// evalReferences measures random and expert returns of the tasks whose environment has
// a scripted expert; the others get no normalised score.
func evalReferences(ctx context.Context, a *app, tasks []envs.Task, episodes int, seed int64) (map[string]agents.Reference, error) {
	if episodes == 0 {
		return nil, nil
	}
	var with []envs.Task
	for _, t := range tasks {
		if slices.Contains(expert.IDs(), t.EnvID) {
			with = append(with, t)
		} else {
			a.log.WithField("task", t.ID).Warn("no scripted expert for this environment: no normalised score")
		}
	}
	return agents.ComputeReferences(ctx, with, episodes, seed)
}

func runEval(ctx context.Context, a *app, cfg evalCmdConfig) error {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return err
	}
	tasks, err := envs.ResolveTasks(cfg.Tasks)
	if err != nil {
		return fmt.Errorf("eval: tasks: %w", err)
	}
	model, err := loadEvalPolicy(a, cfg)
	if err != nil {
		return err
	}
	if err := checkTasks(model, tasks); err != nil {
		return err
	}
	refs, err := evalReferences(ctx, a, tasks, cfg.RefEpisodes, cfg.Seed)
	if err != nil {
		return err
	}
	ec := cfg.evalConfig()
	ec.References = refs
	a.log.WithFields(logrus.Fields{"checkpoint": cfg.Checkpoint, "adapter": cfg.Adapter, "tasks": len(tasks), "episodes": cfg.Episodes,
		"targets": cfg.Targets, "greedy": cfg.Greedy, "seed": cfg.Seed, "num_envs": cfg.NumEnvs}).Info("eval")
	rng, _ := agents.NewRand(uint64(cfg.Seed))
	evalStart := time.Now()
	results, err := agents.Evaluate(ctx, model, tasks, ec, rng)
	if err != nil {
		return err
	}
	rep := newEvalReport(cfg, results, refs)
	a.log.WithFields(logrus.Fields{"episodes": len(tasks) * len(cfg.Targets) * cfg.Episodes,
		"seconds": fmt.Sprintf("%.2f", time.Since(evalStart).Seconds())}).Info("evaluated")
	md := rep.markdown()
	if cfg.Out != "" {
		if err := rep.write(cfg.Out, md); err != nil {
			return err
		}
	}
	fmt.Fprint(a.stdout, md)
	if ec.Record {
		if err := recordAndRender(ctx, a, cfg, results); err != nil {
			return err
		}
	}
	a.log.WithField("seconds", fmt.Sprintf("%.2f", time.Since(start).Seconds())).Info("eval done")
	return nil
}
