package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/pretrain"
	"github.com/evarl/evarl/internal/metrics"
)

func init() { subcommands = append(subcommands, newPretrainCmd) }

// pretrainFile is a `rl-train pretrain` config (configs/pretrain-*.yaml).
type pretrainFile struct {
	RunDir          string   `yaml:"run_dir"`  // the run directory
	Datasets        []string `yaml:"datasets"` // episode files (rl-train collect) to train on
	TaskSet         string   `yaml:"task_set"` // the pretraining tasks, validated on during training
	HeldOut         string   `yaml:"held_out"` // held-out tasks of the same family, evaluated zero-shot at the end ("" for none)
	Metrics         string   `yaml:"metrics"`  // metrics file name in run_dir: .jsonl or .csv
	BLAS            string   `yaml:"blas"`     // auto, openblas or gonum
	Export          string   `yaml:"export"`   // copy the best checkpoint here at the end ("" for none)
	pretrain.Config `yaml:",inline"`
}

func newPretrainCmd(a *app) *cobra.Command {
	var fl finetuneFlags
	var steps int64
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Pretrain a Decision Transformer on the datasets of a task family",
		Long: `Pretrain a Decision Transformer by return-conditioned supervised learning on
multi-task datasets (rl-train collect), validating it on the pretraining tasks during
training and evaluating the best checkpoint on test seeds of the pretraining and the
held-out tasks at the end. Writes best/ and last/ checkpoints, metrics, a
learning-curve PNG and results.json into run_dir; export copies the best checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := pretrainFile{RunDir: "runs/pretrain", Metrics: "metrics.jsonl", BLAS: "auto", Config: pretrain.DefaultConfig()}
			if ok, err := a.loadConfig(&f, evalMoved("eval")...); err != nil {
				return err
			} else if !ok {
				return errors.New("pretrain needs --config FILE (see configs/pretrain-*.yaml)")
			}
			if err := checkNonNegative("steps", steps, cmd.Flags().Changed("steps")); err != nil {
				return err
			}
			if cmd.Flags().Changed("steps") {
				f.Train = f.Train.WithSteps(int(steps))
			}
			return runPretrain(cmd, a, f, fl)
		},
	}
	cmd.Flags().BoolVar(&fl.resume, "resume", false, "continue from run_dir/last exactly as an uninterrupted run would")
	cmd.Flags().BoolVar(&fl.overwrite, "overwrite", false, "replace the run that run_dir already holds")
	cmd.Flags().BoolVar(&fl.allowTruncated, "allow-truncated", false, "use the complete episodes of a dataset whose last record is torn")
	cmd.Flags().Int64Var(&steps, "steps", 0, "override train.steps (a short run for a smoke test)")
	return cmd
}

func runPretrain(cmd *cobra.Command, a *app, f pretrainFile, fl finetuneFlags) error {
	if f.RunDir == "" {
		return errors.New("pretrain: run_dir is empty")
	}
	if _, err := metrics.FormatOf(f.Metrics); err != nil {
		return fmt.Errorf("pretrain: metrics: %w", err)
	}
	if err := f.Config.Validate(); err != nil {
		return err
	}
	tasks, heldOut, err := pretrain.TaskSets(f.TaskSet, f.HeldOut)
	if err != nil {
		return err
	}
	if f.Export != "" {
		if err := pretrain.CheckExport(f.Export); err != nil {
			return err
		}
	}
	data, err := loadEpisodes(f.Datasets, tasks, fl.allowTruncated)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	gemm, err := a.selectGemm(f.BLAS)
	if err != nil {
		return err
	}
	unlock, err := agents.LockRunDir(f.RunDir)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	defer unlock()
	opts := pretrain.Options{RunDir: f.RunDir, Metrics: f.Metrics, Overwrite: fl.overwrite, Gemm: gemm, Log: a.log}
	tr, err := pretrain.Start(fl.resume, tasks, heldOut, data, f.Config, opts)
	if err != nil {
		return err
	}
	rec := a.progressRecorder("pretrain", tr.Step(), f.Train.Steps)
	res, err := tr.Learn(cmd.Context(), rec)
	rec.Finish()
	if err != nil {
		return err
	}
	fmt.Fprint(a.stdout, tr.ResultsMarkdown(res))
	if f.Export != "" {
		if err := tr.Export(f.Export); err != nil {
			return err
		}
		a.log.WithField("dir", f.Export).Info("exported")
	}
	return nil
}
