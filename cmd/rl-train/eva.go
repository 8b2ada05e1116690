package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newEvaCmd) }

// evaFile configures `rl-train eva` (configs/eva-*.yaml): the same eva section, seed
// and adapters a fine-tune has, so that the state it saves is the one the fine-tune
// would compute.
type evaFile struct {
	Checkpoint string             `yaml:"checkpoint"` // pretrained policy checkpoint directory
	Tasks      string             `yaml:"tasks"`      // target tasks: a task set key or comma-separated task ids
	Datasets   []string           `yaml:"datasets"`   // data of the tasks, for eva.source dataset or both
	Out        string             `yaml:"out"`        // EVA state file to write (safetensors)
	Target     float64            `yaml:"target"`     // the evaluation target the rollouts default to (eva.rollout_target unset)
	Seed       uint64             `yaml:"seed"`       // the run seed; the pass draws from its "eva" stream, as a fine-tune's
	LoRA       lora.Config        `yaml:"lora"`       // the adapters the state is for: r, alpha, targets, rank pattern
	EVA        finetune.EVAConfig `yaml:"eva"`        // rho, tau, …, source, rollouts, batch
	BLAS       string             `yaml:"blas"`       // auto, openblas or gonum
}

// evaMoved are keys of the former eva config, which had its own names.
var evaMoved = []config.Moved{
	{Key: "task_set", Use: "write tasks (a task set or task ids), as finetune configs do"},
	{Key: "task", Use: "write tasks (a task set or task ids), as finetune configs do"},
	{Key: "source", Use: "write eva.source"},
	{Key: "dataset", Use: "write datasets: [FILE] and eva.source: dataset"},
	{Key: "target_return", Use: "write eva.rollout_target"},
	{Key: "rollout_episodes", Use: "write eva.rollout_episodes"},
	{Key: "greedy", Use: "write eva.rollout_greedy"},
	{Key: "num_envs", Use: "write eva.num_envs"},
	{Key: "workers", Use: "remove it: rollouts act on eva.num_envs environments in one batch"},
	{Key: "batch_size", Use: "write eva.batch"},
}

func newEvaCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "eva",
		Short: "Compute the EVA state (LoRA ranks and lora_A init) of a checkpoint for target tasks",
		Long: `eva runs the pass that method eva of rl-train finetune runs: the pretrained policy
acts in the target tasks (rollouts with seeds from the training stream, conditioned on
a target return) or reads windows of their data, the inputs of every LoRA target layer
are captured, and their principal components computed until they converge. Ranks are
redistributed to the layers whose inputs have the most variance (rho), and the state
(ranks, components, explained variance) is saved, so several fine-tunes can start from
it (eva.state). It prints per layer the rank, the share of the layer's input variance
its components explain and the minibatches used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := evaFile{Target: 1, LoRA: lora.DefaultConfig(), EVA: finetune.DefaultEVAConfig(), BLAS: "auto", Out: "runs/eva_state.safetensors"}
			if _, err := a.loadConfig(&f, evaMoved...); err != nil {
				return err
			}
			if out != "" {
				f.Out = out
			}
			return runEva(cmd, a, f)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the EVA state here instead of the config's out")
	return cmd
}

func runEva(cmd *cobra.Command, a *app, f evaFile) error {
	start := time.Now()
	switch {
	case f.Checkpoint == "":
		return errors.New("eva: checkpoint is empty; want the pretrained policy's checkpoint directory")
	case f.Tasks == "":
		return errors.New("eva: tasks is empty; want a task set or task ids, e.g. gridworld/heldout-04")
	case f.Out == "":
		return errors.New("eva: out is empty; want the EVA state file to write")
	case math.IsNaN(f.Target) || math.IsInf(f.Target, 0):
		return fmt.Errorf("eva: target = %v, want a finite return", f.Target)
	}
	tasks, err := envs.ResolveTasks(f.Tasks)
	if err != nil {
		return fmt.Errorf("eva: tasks: %w", err)
	}
	var data []*replay.Episode
	if f.EVA.Source != finetune.SourceRollouts {
		if data, err = loadEpisodes(f.Datasets, tasks, false); err != nil {
			return fmt.Errorf("eva: %w", err)
		}
	}
	gemm, err := a.selectGemm(f.BLAS)
	if err != nil {
		return err
	}
	m, err := a.loadPolicy(f.Checkpoint, "", gemm)
	if err != nil {
		return fmt.Errorf("eva: %w", err)
	}
	a.log.WithFields(logrus.Fields{"checkpoint": f.Checkpoint, "tasks": f.Tasks, "source": f.EVA.Source, "r": f.LoRA.R, "rho": f.EVA.Rho,
		"tau": f.EVA.Tau, "max_batches": f.EVA.MaxBatches, "batch": f.EVA.Batch}).Info("eva")
	state, tm, err := finetune.ComputeEVA(cmd.Context(), m, tasks, data, f.LoRA, f.EVA, f.Target, agents.Seed(f.Seed), a.log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Out), 0o755); err != nil {
		return fmt.Errorf("eva: out: %w", err)
	}
	if err := state.Save(f.Out); err != nil {
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
	fmt.Fprintf(a.stdout, "\nEVA state written to %s: %d minibatches, %.2fs (rollouts %.2fs, pass %.2fs)\n",
		f.Out, state.Batches, time.Since(start).Seconds(), tm.RolloutSeconds, tm.PassSeconds)
	return nil
}
