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
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/config"
)

func init() { subcommands = append(subcommands, newRunCmd) }

// runConfig configures `rl-train run` (configs/quickstart.yaml): the whole adaptation
// pipeline in one command.
type runConfig struct {
	Collect  collectConfig  `yaml:"collect"`  // target-task data, collected when the fine-tuning datasets are missing
	Finetune finetuneConfig `yaml:"finetune"` // evaluation before, EVA, fine-tuning, evaluation after
	Replay   replaySection  `yaml:"replay"`   // replays of the fine-tuned agent
}

// replaySection configures the recorded replays of the fine-tuned agent.
type replaySection struct {
	Episodes int     `yaml:"episodes"` // episodes recorded per task (0: none)
	GIF      bool    `yaml:"gif"`      // also render each recording as an animated GIF
	FPS      float64 `yaml:"fps"`      // GIF frame rate
	Scale    float64 `yaml:"scale"`    // GIF scale relative to the scene's native size
}

func defaultRunConfig() runConfig {
	return runConfig{Collect: defaultCollectConfig(), Finetune: defaultFinetuneConfig(), Replay: replaySection{Episodes: 2, GIF: true, FPS: 8, Scale: 1}}
}

func newRunCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "run CONFIG",
		Short: "The whole pipeline: data, evaluation before, EVA, fine-tuning, evaluation after, replays",
		Long: `Adapt a pretrained Decision Transformer to a target task in one command: collect the
target task's data with the scripted expert when it is missing, evaluate the
pretrained policy, compute EVA from its rollouts, fine-tune the adapters, evaluate
again, record replays of the fine-tuned agent (replay files and GIFs) and print a
summary. CONFIG is a YAML file such as configs/quickstart.yaml.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := defaultRunConfig()
			if err := config.Load(args[0], &cfg); err != nil {
				return err
			}
			return runPipeline(cmd.Context(), a, cfg)
		},
	}
}

func runPipeline(ctx context.Context, a *app, cfg runConfig) error {
	start := time.Now()
	var missing []string
	for _, p := range cfg.Finetune.Datasets {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		a.log.WithField("missing", strings.Join(missing, ", ")).Info("collecting the target-task data")
		if err := runCollect(ctx, a, cfg.Collect, false); err != nil {
			return err
		}
	}
	res, err := runFinetune(ctx, a, cfg.Finetune, false)
	if err != nil {
		return err
	}
	var replays []string
	if cfg.Replay.Episodes > 0 {
		if replays, err = recordReplays(ctx, a, cfg, res); err != nil {
			return err
		}
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nSUMMARY\t%s on %s\n", res.Method, strings.Join(res.Tasks, ", "))
	fmt.Fprintf(w, "normalised score\t%.1f → %.1f\n", res.Before.MeanNormalized, res.After.MeanNormalized)
	fmt.Fprintf(w, "success rate\t%.2f → %.2f\n", res.Before.SuccessRate, res.After.SuccessRate)
	fmt.Fprintf(w, "mean return\t%.3f → %.3f\n", res.Before.MeanReturn, res.After.MeanReturn)
	fmt.Fprintf(w, "trainable parameters\t%d of %d (%.1f %%)\n", res.Trainable, res.Params, 100*float64(res.Trainable)/float64(res.Params))
	if res.Method == MethodEVA {
		fmt.Fprintf(w, "EVA pass\t%.1f s (%.1f %% of EVA + training)\n", res.EVASeconds, 100*res.EVAShare)
	}
	fmt.Fprintf(w, "training\t%d updates, %.1f s\n", res.Steps, res.TrainSeconds)
	fmt.Fprintf(w, "checkpoint\t%s\n", res.BestCheckpoint)
	for _, r := range replays {
		fmt.Fprintf(w, "replay\t%s\n", r)
	}
	fmt.Fprintf(w, "wall time\t%s\n", time.Since(start).Round(time.Second))
	return w.Flush()
}

// recordReplays runs the fine-tuned policy and writes its episodes as replay files
// (and GIFs), returning the paths written.
func recordReplays(ctx context.Context, a *app, cfg runConfig, res *finetuneResult) ([]string, error) {
	ft := cfg.Finetune
	gemm, err := a.selectGemm(ft.BLAS)
	if err != nil {
		return nil, err
	}
	adapter := ft.Method != MethodFull
	model, err := loadPolicy(finetunedPolicy(ft.Base, res.BestCheckpoint, adapter), finetunedAdapter(res.BestCheckpoint, adapter), gemm)
	if err != nil {
		return nil, err
	}
	tasks, err := envs.ResolveTasks(ft.Tasks)
	if err != nil {
		return nil, err
	}
	ec := ft.Eval.config(cfg.Replay.Episodes, nil)
	ec.Targets = ft.Eval.Targets[:1]
	ec.Record = true
	results, err := agents.Evaluate(ctx, model, tasks, ec, nil)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(ft.RunDir, "replays")
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range results {
		name := taskFileName(r.TaskID)
		path := filepath.Join(dir, name+".evds")
		if err := writeEpisodes(path, "finetuned "+res.Method, []agents.EvalResult{r}); err != nil {
			return nil, err
		}
		out = append(out, path)
		if cfg.Replay.GIF {
			gif := filepath.Join(dir, name+".gif")
			if err := a.renderReplay(ctx, path, gif, renderFlags{fps: cfg.Replay.FPS, scale: cfg.Replay.Scale}); err != nil {
				return nil, err
			}
			out = append(out, gif)
		}
	}
	return out, nil
}
