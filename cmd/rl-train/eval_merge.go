package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/internal/metrics"
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
			reports := make([]*evalReport, len(args))
			for i, p := range args {
				r, err := readEvalReport(p)
				if err != nil {
					return err
				}
				reports[i] = r
			}
			for i, r := range reports[1:] {
				if f := reports[0]; r.Tasks != f.Tasks || r.Episodes != f.Episodes || r.Seed != f.Seed || r.Greedy != f.Greedy {
					a.log.WithFields(map[string]any{"file": args[i+1], "first": args[0]}).
						Warn("evaluated on other tasks, episodes, seeds or action choice than the first file: rows are not directly comparable")
				}
			}
			md := mergeMarkdown(reports)
			if out != "" {
				if err := metrics.WriteFileAtomic(out, []byte(md)); err != nil {
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

// readEvalReport reads a results.json of rl-train eval, strictly.
func readEvalReport(path string) (*evalReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval-merge: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r evalReport
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("eval-merge: %s: %w (want a results.json written by rl-train eval --out)", path, err)
	}
	if r.Label == "" || len(r.Summary) == 0 {
		return nil, errors.New("eval-merge: " + path + ": no label or summary; want a results.json written by rl-train eval --out")
	}
	return &r, nil
}

// mergeMarkdown is one table with a row per report and target.
func mergeMarkdown(reports []*evalReport) string {
	var b strings.Builder
	b.WriteString("| policy | tasks | target | episodes | normalised score | success | return |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range reports {
		for _, s := range r.Summary {
			fmt.Fprintf(&b, "| %s | %s | %g | %d | %s | %.2f | %.4g |\n", mdCell(r.Label), mdCell(r.Tasks), s.Target, s.Episodes,
				fmtOpt("%.1f", s.MeanNormalized), s.SuccessRate, s.MeanReturn)
		}
	}
	return b.String()
}
