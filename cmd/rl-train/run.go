package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

func init() { subcommands = append(subcommands, newRunCmd) }

// runConfig configures `rl-train run` (configs/quickstart.yaml): the whole adaptation
// pipeline in one command.
type runConfig struct {
	Collect  collectFile   `yaml:"collect"`  // target-task data, collected when the fine-tuning datasets are missing
	Finetune finetuneFile  `yaml:"finetune"` // evaluation before, EVA, fine-tuning, evaluation after
	Replay   replaySection `yaml:"replay"`   // replays of the fine-tuned agent
}

// replaySection configures the recorded replays of the fine-tuned agent.
type replaySection struct {
	Episodes int     `yaml:"episodes"` // episodes recorded per task (0: none)
	GIF      bool    `yaml:"gif"`      // also render each recording as an animated GIF
	FPS      float64 `yaml:"fps"`      // GIF frame rate
	Scale    float64 `yaml:"scale"`    // GIF scale relative to the scene's native size
}

func newRunCmd(a *app) *cobra.Command {
	var fl finetuneFlags
	cmd := &cobra.Command{
		Use:   "run CONFIG",
		Short: "The whole pipeline: data, evaluation before, EVA, fine-tuning, evaluation after, replays",
		Long: `Adapt a pretrained Decision Transformer to a target task in one command: collect the
target task's data with the scripted expert when it is missing, evaluate the
pretrained policy, compute EVA from its rollouts, fine-tune the adapters, evaluate
the best and the last checkpoint on test seeds, record replays of the fine-tuned
agent (replay files and GIFs) and print a summary. CONFIG is a YAML file such as
configs/quickstart.yaml. A run directory that holds a run is resumed with --resume,
replaced with --overwrite.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := runConfig{Collect: defaultCollectFile(), Finetune: defaultFinetuneFile(), Replay: replaySection{Episodes: 2, GIF: true, FPS: 8, Scale: 1}}
			if err := config.Load(args[0], &cfg, evalMoved("finetune.eval")...); err != nil {
				return err
			}
			return runPipeline(cmd.Context(), a, cfg, fl)
		},
	}
	cmd.Flags().BoolVar(&fl.resume, "resume", false, "continue the fine-tuning from run_dir/last")
	cmd.Flags().BoolVar(&fl.overwrite, "overwrite", false, "replace the run that run_dir already holds")
	return cmd
}

func runPipeline(ctx context.Context, a *app, cfg runConfig, fl finetuneFlags) error {
	start := time.Now()
	if err := cfg.Finetune.validate(); err != nil {
		return err
	}
	// The run directory is locked from before the data is collected until the
	// replays in it are written.
	unlock, err := agents.LockRunDir(cfg.Finetune.RunDir)
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	defer unlock()
	fl.runDirLocked = true
	var missing []string
	for _, p := range cfg.Finetune.Datasets {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		// The adapters are checked against the base before the collection, which
		// would otherwise run first and be wasted on a typo in the lora section.
		base, err := policy.Load(cfg.Finetune.Base, nn.GonumGemm{})
		if err != nil {
			return fmt.Errorf("finetune: base: %w", err)
		}
		if err := finetune.CheckAdapters(base, cfg.Finetune.Config); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
		a.log.WithField("missing", strings.Join(missing, ", ")).Info("collecting the target-task data")
		if err := runCollect(ctx, a, cfg.Collect, false); err != nil {
			return err
		}
	}
	res, err := runFinetune(ctx, a, cfg.Finetune, fl, finetune.Options{})
	if err != nil {
		return err
	}
	var replays []string
	if cfg.Replay.Episodes > 0 {
		if replays, err = recordReplays(ctx, a, cfg); err != nil {
			return err
		}
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nSUMMARY\t%s on %s (test seeds, %d episodes per task)\n", res.Method, strings.Join(res.Tasks, ", "), cfg.Finetune.Eval.TestEpisodes)
	fmt.Fprintf(w, "normalised score\t%.1f → %.1f (best, update %d) · %.1f (last)\n", res.Before.MeanNormalized, res.After.MeanNormalized, res.BestStep, res.Last.MeanNormalized)
	fmt.Fprintf(w, "success rate\t%.2f → %.2f · %.2f\n", res.Before.SuccessRate, res.After.SuccessRate, res.Last.SuccessRate)
	fmt.Fprintf(w, "mean return\t%.3f → %.3f · %.3f\n", res.Before.MeanReturn, res.After.MeanReturn, res.Last.MeanReturn)
	fmt.Fprintf(w, "trainable parameters\t%d of %d (%.1f %%)\n", res.Trainable, res.Params, 100*float64(res.Trainable)/float64(res.Params))
	if res.Method == finetune.MethodEVA {
		fmt.Fprintf(w, "EVA\t%.2f s (%.1f %% of EVA + training): rollouts %.2f s, pass %.2f s\n",
			res.EVASeconds, 100*res.EVAShare, res.RolloutSeconds, res.PassSeconds)
	}
	fmt.Fprintf(w, "training\t%d updates, %.1f s\n", res.Steps, res.TrainSeconds)
	fmt.Fprintf(w, "checkpoint\t%s\n", filepath.Join(cfg.Finetune.RunDir, "best"))
	for _, r := range replays {
		fmt.Fprintf(w, "replay\t%s\n", r)
	}
	fmt.Fprintf(w, "wall time\t%s\n", time.Since(start).Round(time.Second))
	return w.Flush()
}

// recordReplays runs the fine-tuned policy (best checkpoint, as a user loads it) on
// test seeds and writes its episodes as replay files (and GIFs) in run_dir/replays,
// returning the paths written.
func recordReplays(ctx context.Context, a *app, cfg runConfig) ([]string, error) {
	ft := cfg.Finetune
	gemm, err := a.selectGemm(ft.BLAS)
	if err != nil {
		return nil, err
	}
	best := filepath.Join(ft.RunDir, "best")
	checkpoint, adapter := ft.Base, best
	if ft.Method == finetune.MethodFull {
		checkpoint, adapter = best, ""
	}
	model, err := a.loadPolicy(checkpoint, adapter, gemm)
	if err != nil {
		return nil, err
	}
	tasks, err := envs.ResolveTasks(ft.Tasks)
	if err != nil {
		return nil, err
	}
	ec := agents.EvalConfig{Episodes: cfg.Replay.Episodes, Targets: ft.Eval.Targets[:1], NumEnvs: ft.Eval.NumEnvs, Seed: ft.Eval.TestSeed,
		Greedy: true, Record: true}
	rec, err := agents.NewRecordingFiles(filepath.Join(ft.RunDir, "replays"), tasks, ec, "finetuned "+ft.Method)
	if err != nil {
		return nil, err
	}
	ec.OnRecording = rec.Add
	_, err = agents.Evaluate(ctx, model, tasks, ec, nil)
	if cerr := rec.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range tasks {
		out = append(out, rec.Path(k))
		if cfg.Replay.GIF {
			gif := strings.TrimSuffix(rec.Path(k), ".evds") + ".gif"
			ra := *a
			ra.stdout = a.stderr
			if err := ra.renderReplay(ctx, rec.Path(k), gif, renderFlags{fps: cfg.Replay.FPS, scale: cfg.Replay.Scale}); err != nil {
				return nil, err
			}
			out = append(out, gif)
		}
	}
	return out, nil
}
