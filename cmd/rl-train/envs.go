package main

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all" // register every environment
)

func init() { subcommands = append(subcommands, newEnvsCmd) }

func newEnvsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "envs",
		Short: "List registered environments with their spaces, limits and task sets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tFAMILY\tOBSERVATION\tACTION\tMAX STEPS\tREWARD THRESHOLD")
			for _, s := range envs.Specs() {
				env, err := s.New(nil)
				if err != nil {
					return fmt.Errorf("envs: build %s with defaults: %w", s.ID, err)
				}
				threshold := "-"
				if !math.IsNaN(s.RewardThreshold) {
					threshold = fmt.Sprint(s.RewardThreshold)
				}
				fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%d\t%s\n", s.ID, s.Family, env.ObservationSpace(), env.ActionSpace(), s.MaxEpisodeSteps, threshold)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TASK SET\tTASKS\tEXAMPLES")
			for _, set := range envs.TaskSets() {
				var ex []string
				for i, t := range set.Tasks {
					if i == 3 {
						ex = append(ex, "…")
						break
					}
					ex = append(ex, t.ID)
				}
				fmt.Fprintf(w, "%s\t%d\t%s\n", set.Key(), len(set.Tasks), strings.Join(ex, ", "))
			}
			return w.Flush()
		},
	}
}
