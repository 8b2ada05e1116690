package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

// evalCmdConfig configures `rl-train eval` (configs/eval-*.yaml). Flags override it.
type evalCmdConfig struct {
	Checkpoint     string    `yaml:"checkpoint"`      // policy checkpoint directory (config.json + model.safetensors)
	Adapter        string    `yaml:"adapter"`         // LoRA adapter directory merged into the policy ("" for none)
	Label          string    `yaml:"label"`           // the policy's name in tables ("": checkpoint, + adapter)
	Tasks          string    `yaml:"tasks"`           // a task set key (gridworld/heldout) or a comma list of task ids
	Episodes       int       `yaml:"episodes"`        // episodes per task and target return
	Targets        []float64 `yaml:"targets"`         // target returns the policy is conditioned on
	NumEnvs        int       `yaml:"num_envs"`        // environments acted on in one batch
	Seed           int64     `yaml:"seed"`            // episode j resets with seed + j; also seeds sampled actions
	Greedy         bool      `yaml:"greedy"`          // take the most likely action (false: sample)
	RefEpisodes    int       `yaml:"ref_episodes"`    // episodes of random play and of the scripted expert per task (0: no normalised scores)
	Out            string    `yaml:"out"`             // directory for results.json and results.md ("": stdout only)
	Record         string    `yaml:"record"`          // directory for replay files, one per task ("": none)
	Render         string    `yaml:"render"`          // directory for GIFs, one per task ("": none)
	RenderEpisodes int       `yaml:"render_episodes"` // episodes per task and target drawn into each GIF
	BLAS           string    `yaml:"blas"`            // auto, openblas or gonum
}

// defaultEvalCmdConfig evaluates on the test seed stream, as fine-tuning reports.
func defaultEvalCmdConfig() evalCmdConfig {
	return evalCmdConfig{Episodes: 100, NumEnvs: 16, Seed: agents.TestSeeds, Greedy: true, RefEpisodes: 100, RenderEpisodes: 1, BLAS: "auto"}
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
	flags := defaultEvalCmdConfig()
	cmd := &cobra.Command{
		Use:   "eval --checkpoint DIR --tasks SET|IDS --targets R[,R…]",
		Short: "Evaluate a policy checkpoint (optionally with a LoRA adapter) on tasks at target returns",
		Long: `eval runs N episodes per task and target return (episode j resets with seed + j, so
results do not depend on --num-envs; by default the test seed stream that fine-tuning
reports on) and reports per task and target the mean, standard deviation and 95 %
confidence interval of the return, the success rate, the episode length and the
normalised score (random play = 0, the scripted expert = 100, measured on the same
seeds). It prints a Markdown table; --out writes results.json and results.md,
--record writes the episodes as replay files (one per task), --render draws them as
GIFs. Flags override the --config file (configs/eval-*.yaml). rl-train eval-merge
combines several evaluations into one table.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultEvalCmdConfig()
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			fl := cmd.Flags()
			applyFlags(fl, &cfg, &flags)
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
	f.StringVar(&flags.Checkpoint, "checkpoint", "", "policy checkpoint directory (required)")
	f.StringVar(&flags.Adapter, "adapter", "", "LoRA adapter directory (adapter_config.json + adapter_model.safetensors) merged into the policy")
	f.StringVar(&flags.Label, "label", "", "name of this policy in tables (default: the checkpoint, + the adapter)")
	f.StringVar(&flags.Tasks, "tasks", "", "task set (e.g. gridworld/heldout) or comma list of task ids (see rl-train envs)")
	f.IntVar(&flags.Episodes, "episodes", flags.Episodes, "episodes per task and target return")
	f.StringVar(&targets, "targets", "", "comma list of target returns, e.g. 1,0.5")
	f.IntVar(&flags.NumEnvs, "num-envs", flags.NumEnvs, "environments acted on in one batch")
	f.Int64Var(&flags.Seed, "seed", flags.Seed, "episode j resets with seed + j (default: the test seed stream)")
	f.BoolVar(&flags.Greedy, "greedy", flags.Greedy, "take the most likely action (the default)")
	f.BoolVar(&sample, "sample", false, "sample actions from the policy instead of taking the most likely one")
	f.IntVar(&flags.RefEpisodes, "ref-episodes", flags.RefEpisodes, "episodes of random play and of the scripted expert per task for normalised scores (0: none)")
	f.StringVar(&flags.Out, "out", "", "directory for results.json and results.md")
	f.StringVar(&flags.Record, "record", "", "directory for the episodes as replay files, <task>.evds")
	f.StringVar(&flags.Render, "render", "", "directory for GIFs of the episodes, <task>.gif")
	f.IntVar(&flags.RenderEpisodes, "render-episodes", flags.RenderEpisodes, "episodes per task and target drawn into each GIF")
	f.StringVar(&flags.BLAS, "blas", flags.BLAS, "BLAS backend: auto, openblas or gonum")
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

func runEval(ctx context.Context, a *app, cfg evalCmdConfig) error {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return err
	}
	tasks, err := envs.ResolveTasks(cfg.Tasks)
	if err != nil {
		return fmt.Errorf("eval: tasks: %w", err)
	}
	gemm, err := a.selectGemm(cfg.BLAS)
	if err != nil {
		return err
	}
	model, err := a.loadPolicy(cfg.Checkpoint, cfg.Adapter, gemm)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := agents.CheckTasks(model.Config(), tasks); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	var refs map[string]agents.Reference
	if cfg.RefEpisodes > 0 {
		if refs, err = finetune.MeasureReferences(ctx, tasks, min(cfg.RefEpisodes, cfg.Episodes), cfg.Seed); err != nil {
			return err
		}
	}
	ec := cfg.evalConfig()
	ec.References = refs
	var rec *agents.RecordingFiles
	if ec.Record {
		dir := cfg.Record
		if dir == "" { // only GIFs wanted: the replay files are temporary
			if dir, err = os.MkdirTemp("", "evarl-eval-*"); err != nil {
				return err
			}
			defer os.RemoveAll(dir)
		}
		if rec, err = agents.NewRecordingFiles(dir, tasks, ec, cfg.label()); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		defer rec.Close()
		ec.OnRecording = rec.Add
	}
	a.log.WithFields(logrus.Fields{"checkpoint": cfg.Checkpoint, "adapter": cfg.Adapter, "tasks": len(tasks), "episodes": cfg.Episodes,
		"targets": cfg.Targets, "greedy": cfg.Greedy, "seed": cfg.Seed, "num_envs": cfg.NumEnvs}).Info("eval")
	rng, _ := agents.Seed(uint64(cfg.Seed)).Stream("eval")
	results, err := agents.Evaluate(ctx, model, tasks, ec, rng)
	if err != nil {
		return err
	}
	rep := agents.NewEvaluation(agents.Evaluation{Label: cfg.label(), Checkpoint: cfg.Checkpoint, Adapter: cfg.Adapter, Tasks: cfg.Tasks,
		Episodes: cfg.Episodes, Targets: cfg.Targets, Greedy: cfg.Greedy, Seed: cfg.Seed, RefEpisodes: min(cfg.RefEpisodes, cfg.Episodes)}, results, refs)
	if cfg.Out != "" {
		if err := rep.Write(cfg.Out); err != nil {
			return err
		}
	}
	fmt.Fprint(a.stdout, rep.Markdown())
	if rec != nil {
		if err := rec.Close(); err != nil {
			return fmt.Errorf("eval: record: %w", err)
		}
		for k, t := range tasks {
			if cfg.Record != "" {
				a.log.WithFields(logrus.Fields{"task": t.ID, "file": rec.Path(k)}).Info("recorded")
			}
			if cfg.Render == "" {
				continue
			}
			gif := filepath.Join(cfg.Render, agents.TaskFileName(t.ID)+".gif")
			ra := *a
			ra.stdout = a.stderr // keep stdout for the table
			if err := os.MkdirAll(cfg.Render, 0o755); err != nil {
				return fmt.Errorf("eval: render: %w", err)
			}
			if err := ra.renderReplay(ctx, rec.Path(k), gif, renderFlags{episodes: rec.Positions(cfg.RenderEpisodes), fps: 30, scale: 1}); err != nil {
				return fmt.Errorf("eval: render %s: %w", t.ID, err)
			}
		}
	}
	a.log.WithField("seconds", fmt.Sprintf("%.2f", time.Since(start).Seconds())).Info("eval done")
	return nil
}
