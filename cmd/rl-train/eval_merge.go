package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/internal/atomicfile"
)

func init() { subcommands = append(subcommands, newEvalMergeCmd) }

func newEvalMergeCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "eval-merge RESULTS_JSON... [--out FILE]",
		Short: "Combine the results.json files of several rl-train eval runs into one Markdown table",
		Long: `eval-merge reads the results.json that rl-train eval --out writes, one per policy
(a checkpoint, or a checkpoint with an adapter), and prints one Markdown table with a
row per policy and target return: the mean over tasks of the normalised score, the
success rate and the return. Rows keep the order of the files. scripts/eval_table.sh
evaluates a list of checkpoints and adapters and merges them this way.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			evals := make([]*agents.Evaluation, len(args))
			for i, p := range args {
				r, err := agents.ReadEvaluation(p)
				if err != nil {
					return fmt.Errorf("eval-merge: %w", err)
				}
				evals[i] = r
				if f := evals[0]; r.Tasks != f.Tasks || r.Episodes != f.Episodes || r.Seed != f.Seed || r.Greedy != f.Greedy {
					a.log.WithFields(map[string]any{"file": p, "first": args[0]}).
						Warn("evaluated on other tasks, episodes, seeds or action choice than the first file: rows are not directly comparable")
				}
			}
			md := agents.MergeEvaluations(evals)
			if out != "" {
				if err := atomicfile.WriteFile(out, []byte(md)); err != nil {
					return err
				}
			}
			fmt.Fprint(a.stdout, md)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "also write the table to this file")
	return cmd
}
