package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all" // register every environment
	"github.com/evarl/evarl/internal/metrics"
)

func init() { subcommands = append(subcommands, newFinetuneCmd) }

// finetuneFile is a `rl-train finetune` config (configs/finetune-*.yaml): what to
// fine-tune on, where the run goes, and the library's finetune.Config inline.
type finetuneFile struct {
	RunDir          string   `yaml:"run_dir"`  // the run directory (finetune.Options.RunDir)
	Base            string   `yaml:"base"`     // the pretrained checkpoint directory
	Tasks           string   `yaml:"tasks"`    // target tasks: a task set key or comma-separated task ids
	Datasets        []string `yaml:"datasets"` // offline data of the target tasks (episodes of other tasks are ignored)
	Metrics         string   `yaml:"metrics"`  // metrics file name in run_dir: .jsonl or .csv
	BLAS            string   `yaml:"blas"`     // auto, openblas or gonum
	finetune.Config `yaml:",inline"`
}

func defaultFinetuneFile() finetuneFile {
	return finetuneFile{RunDir: "runs/finetune", Metrics: "metrics.jsonl", BLAS: "auto", Config: finetune.DefaultConfig()}
}

func (f finetuneFile) validate() error {
	switch {
	case f.RunDir == "":
		return errors.New("finetune: run_dir is empty")
	case f.Base == "":
		return errors.New("finetune: base is empty; want a pretrained checkpoint directory such as pretrained/gridworld")
	case f.Tasks == "":
		return errors.New("finetune: tasks is empty; want a task set or task ids such as gridworld/heldout-01")
	}
	if _, err := metrics.FormatOf(f.Metrics); err != nil {
		return fmt.Errorf("finetune: metrics: %w", err)
	}
	return f.Config.Validate()
}

// finetuneFlags are the command-line switches of a fine-tuning run.
type finetuneFlags struct {
	resume, overwrite, allowTruncated bool
	// runDirLocked: the caller holds run_dir's lock (rl-train run, which writes
	// replays there after the fine-tune).
	runDirLocked bool
}

func newFinetuneCmd(a *app) *cobra.Command {
	var fl finetuneFlags
	var method, mode, runDir string
	var steps, seed int64
	cmd := &cobra.Command{
		Use:   "finetune",
		Short: "Adapt a pretrained Decision Transformer to target tasks (full, lora, pissa, olora or eva)",
		Long: `Fine-tune a pretrained Decision Transformer on target tasks, offline (return-conditioned
supervised learning on their datasets) or online (the Online Decision Transformer).
Methods: full (every weight), lora (PEFT's default init), pissa, olora, eva (adapters
initialised from the policy's own activations on the target tasks); lora.use_dora
makes them DoRA. LoRA methods save only the adapter (PEFT layout). Validation episodes
pick the best checkpoint; the base, the best and the last checkpoint are evaluated on
disjoint test seeds. Writes best/, last/, metrics, a learning-curve PNG and
results.json / results.md into run_dir. Ctrl-C saves last/ for --resume.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := defaultFinetuneFile()
			if ok, err := a.loadConfig(&f, evalMoved("eval")...); err != nil {
				return err
			} else if !ok {
				return errors.New("finetune needs --config FILE (see configs/finetune-*.yaml)")
			}
			set := cmd.Flags().Changed
			if err := checkNonNegative("steps", steps, set("steps")); err != nil {
				return err
			}
			if err := checkNonNegative("seed", seed, set("seed")); err != nil {
				return err
			}
			if set("method") {
				f.Method = method
			}
			if set("mode") {
				f.Mode = mode
			}
			if set("run-dir") {
				f.RunDir = runDir
			}
			if set("steps") {
				f.Train = f.Train.WithSteps(int(steps))
			}
			if set("seed") {
				f.Seed = uint64(seed)
			}
			res, err := runFinetune(cmd.Context(), a, f, fl, finetune.Options{})
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, finetune.ResultsMarkdown(res.PerTask, res.References))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&fl.resume, "resume", false, "continue from run_dir/last exactly as an uninterrupted run would")
	flags.BoolVar(&fl.overwrite, "overwrite", false, "replace the run that run_dir already holds")
	flags.BoolVar(&fl.allowTruncated, "allow-truncated", false, "use the complete episodes of a dataset whose last record is torn (left by a crash)")
	flags.StringVar(&method, "method", "", "override method: "+strings.Join(finetune.Methods, ", "))
	flags.StringVar(&mode, "mode", "", "override mode: "+finetune.ModeOffline+" or "+finetune.ModeOnline)
	flags.StringVar(&runDir, "run-dir", "", "override run_dir (e.g. one directory per seed)")
	flags.Int64Var(&steps, "steps", 0, "override train.steps")
	flags.Int64Var(&seed, "seed", 0, "override seed")
	return cmd
}

// runFinetune runs one fine-tuning from a config file's content: a new run, or with
// fl.resume the run in run_dir continued (a new one when it has no checkpoint yet).
// opts carries what the caller already knows (the base's evaluation, references).
func runFinetune(ctx context.Context, a *app, f finetuneFile, fl finetuneFlags, opts finetune.Options) (*finetune.Result, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	tasks, err := envs.ResolveTasks(f.Tasks)
	if err != nil {
		return nil, fmt.Errorf("finetune: tasks: %w", err)
	}
	gemm, err := a.selectGemm(f.BLAS)
	if err != nil {
		return nil, err
	}
	base, err := a.loadPolicy(f.Base, "", gemm)
	if err != nil {
		return nil, fmt.Errorf("finetune: base: %w", err)
	}
	data, err := loadEpisodes(f.Datasets, tasks, fl.allowTruncated)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if !fl.runDirLocked {
		unlock, err := agents.LockRunDir(f.RunDir)
		if err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
		defer unlock()
	}
	opts.RunDir, opts.Metrics, opts.Base, opts.Overwrite, opts.Log = f.RunDir, f.Metrics, f.Base, fl.overwrite, a.log
	tuner, _, err := finetune.Start(ctx, fl.resume, base, tasks, data, f.Config, opts)
	if err != nil {
		return nil, err
	}
	rec := a.progressRecorder("finetune "+f.Method, tuner.Step(), f.Steps())
	res, err := tuner.Learn(ctx, rec)
	rec.Finish()
	return res, err
}
