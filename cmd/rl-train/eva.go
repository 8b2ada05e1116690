package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newEvaCmd) }

// evaCmdConfig configures `rl-train eva` (configs/eva-*.yaml).
type evaCmdConfig struct {
	Checkpoint      string      `yaml:"checkpoint"`       // pretrained policy checkpoint directory
	TaskSet         string      `yaml:"task_set"`         // task set of the target task, family/name (see rl-train envs)
	Task            string      `yaml:"task"`             // the target task's id within the set
	Source          string      `yaml:"source"`           // "rollouts" (the pretrained policy in the task; default) or "dataset"
	Dataset         string      `yaml:"dataset"`          // episode file (.evds) for source: dataset; only the task's episodes are used
	TargetReturn    float64     `yaml:"target_return"`    // return-to-go the rollouts are conditioned on
	RolloutEpisodes int         `yaml:"rollout_episodes"` // episodes to collect before the pass
	Greedy          bool        `yaml:"greedy"`           // act with the mode instead of sampling during rollouts
	NumEnvs         int         `yaml:"num_envs"`         // environments stepped in parallel during rollouts
	Workers         int         `yaml:"workers"`          // worker goroutines of the vector env (0: one per CPU)
	BatchSize       int         `yaml:"batch_size"`       // windows per minibatch (each window is the policy's context)
	Seed            int64       `yaml:"seed"`             // seeds the environments, action sampling and window draws
	Out             string      `yaml:"out"`              // EVA state file to write (safetensors)
	LoRA            lora.Config `yaml:"lora"`             // the adapters the state is for: r, alpha, targets, rank pattern
	EVA             eva.Config  `yaml:"eva"`              // rho, tau, whiten, adjust_scaling_factors, max_batches
}

func defaultEvaCmdConfig() evaCmdConfig {
	lc := lora.DefaultConfig()
	lc.Init = lora.InitEVA
	return evaCmdConfig{
		Source: "rollouts", RolloutEpisodes: 32, NumEnvs: 8, BatchSize: 64,
		Out: "runs/eva_state.safetensors", LoRA: lc, EVA: eva.DefaultConfig(),
	}
}

func (c evaCmdConfig) validate() error {
	switch {
	case c.Checkpoint == "":
		return fmt.Errorf("eva: checkpoint is empty; want the pretrained policy's checkpoint directory")
	case c.TaskSet == "" || c.Task == "":
		return fmt.Errorf("eva: task_set %q and task %q: want both, e.g. cartpole/heldout and a task id from rl-train envs", c.TaskSet, c.Task)
	case c.Source != "rollouts" && c.Source != "dataset":
		return fmt.Errorf("eva: source = %q; want rollouts or dataset", c.Source)
	case c.Source == "dataset" && c.Dataset == "":
		return fmt.Errorf("eva: source is dataset but dataset is empty; want an episode file")
	case c.Source == "rollouts" && c.RolloutEpisodes < 1:
		return fmt.Errorf("eva: rollout_episodes = %d; want ≥ 1", c.RolloutEpisodes)
	case c.NumEnvs < 1:
		return fmt.Errorf("eva: num_envs = %d; want ≥ 1", c.NumEnvs)
	case c.Workers < 0:
		return fmt.Errorf("eva: workers = %d; want ≥ 0", c.Workers)
	case c.BatchSize < 1:
		return fmt.Errorf("eva: batch_size = %d; want ≥ 1", c.BatchSize)
	case c.Seed < 0:
		return fmt.Errorf("eva: seed = %d; want ≥ 0", c.Seed)
	case c.Out == "":
		return fmt.Errorf("eva: out is empty; want the EVA state file to write")
	}
	if err := c.LoRA.Validate(); err != nil {
		return fmt.Errorf("eva: lora: %w", err)
	}
	if err := c.EVA.Validate(); err != nil {
		return fmt.Errorf("eva: %w", err)
	}
	return nil
}

func newEvaCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "eva",
		Short: "Compute the EVA state (LoRA ranks and lora_A init) of a checkpoint for a target task",
		Long: `eva runs the pretrained policy on the target task (rollouts conditioned on a target
return, or windows of a dataset of that task), captures the inputs of every LoRA target
layer, and computes their principal components incrementally until they converge.
Ranks are then redistributed to the layers whose inputs have the most variance (rho),
and the state (ranks, components, explained variance) is saved, so several fine-tunes
can start from it. It prints per layer the rank, the share of the layer's input
variance its components explain and the minibatches used, and the total time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultEvaCmdConfig()
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			if out != "" {
				cfg.Out = out
			}
			if err := cfg.validate(); err != nil {
				return err
			}
			return runEva(cmd, a, cfg)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the EVA state here instead of the config's out")
	return cmd
}

func runEva(cmd *cobra.Command, a *app, cfg evaCmdConfig) error {
	ctx := cmd.Context()
	start := time.Now()
	set, err := envs.LookupTaskSet(cfg.TaskSet)
	if err != nil {
		return fmt.Errorf("eva: task_set: %w", err)
	}
	var task *envs.Task
	for i := range set.Tasks {
		if set.Tasks[i].ID == cfg.Task {
			task = &set.Tasks[i]
		}
	}
	if task == nil {
		return fmt.Errorf("eva: task %q is not in task set %s", cfg.Task, cfg.TaskSet)
	}
	g, err := nn.DefaultGemm(a.log)
	if err != nil {
		return err
	}
	m, err := policy.Load(cfg.Checkpoint, g)
	if err != nil {
		return fmt.Errorf("eva: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x657661))
	a.log.WithFields(logrus.Fields{
		"checkpoint": cfg.Checkpoint, "task": task.ID, "source": cfg.Source, "r": cfg.LoRA.R, "rho": cfg.EVA.Rho,
		"tau": cfg.EVA.Tau, "whiten": cfg.EVA.Whiten, "max_batches": cfg.EVA.MaxBatches, "batch_size": cfg.BatchSize,
	}).Info("eva")

	var episodes []*replay.Episode
	switch cfg.Source {
	case "rollouts":
		vec, err := envs.MakeVector(task.EnvID, task.Options, cfg.NumEnvs, cfg.Workers)
		if err != nil {
			return fmt.Errorf("eva: %w", err)
		}
		defer vec.Close()
		episodes, err = eva.Rollouts(ctx, m, vec, task.EnvID, cfg.TargetReturn, cfg.RolloutEpisodes, cfg.Seed, cfg.Greedy, rng)
		if err != nil {
			return err
		}
		var ret float64
		for _, ep := range episodes {
			ep.TaskID = task.ID
			ret += ep.Return()
		}
		a.log.WithFields(logrus.Fields{"episodes": len(episodes), "mean_return": ret / float64(len(episodes)),
			"seconds": time.Since(start).Seconds()}).Info("eva: rollouts collected")
	case "dataset":
		ds, err := replay.Open(cfg.Dataset, replay.Options{})
		if err != nil {
			return fmt.Errorf("eva: %w", err)
		}
		for _, ep := range ds.Episodes {
			if ep.TaskID == task.ID {
				episodes = append(episodes, ep)
			}
		}
		if len(episodes) == 0 {
			return fmt.Errorf("eva: dataset %s has no episodes of task %s", cfg.Dataset, task.ID)
		}
	}
	fwd, err := eva.WindowSource(m, episodes, cfg.BatchSize, rng)
	if err != nil {
		return err
	}
	passStart := time.Now()
	state, err := eva.Compute(ctx, m, cfg.LoRA, cfg.EVA, fwd, a.log)
	if err != nil {
		return err
	}
	passTime := time.Since(passStart)
	if dir := filepath.Dir(cfg.Out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("eva: out: %w", err)
		}
	}
	if err := state.Save(cfg.Out); err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LAYER\tRANK\tR\tVARIANCE EXPLAINED\tMINIBATCHES\tSHARES PCA OF\tCONVERGED")
	for _, l := range state.Layers {
		owner := "-"
		if l.Owner != "" {
			owner = l.Owner
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f%%\t%d\t%s\t%v\n", l.Name, l.Rank, l.NominalRank, 100*l.ExplainedShare(), l.Batches, owner, l.Converged)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nEVA state written to %s: %d minibatches, pass %.2fs, total %.2fs\n",
		cfg.Out, state.Batches, passTime.Seconds(), time.Since(start).Seconds())
	return nil
}
