package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	_ "github.com/evarl/evarl/envs/all" // register every environment
	"github.com/evarl/evarl/render"
	"github.com/evarl/evarl/replay"
)

func init() { subcommands = append(subcommands, newRenderCmd) }

// renderFlags are the options shared by `render` and `watch`.
type renderFlags struct {
	episodes  []int   // episode indexes in the file; empty means all
	fps       float64 // frames per second
	scale     float64 // output pixels per native pixel
	noOverlay bool    // hide the step/reward/return text
	truncated bool    // accept a file whose last record is torn (a crash while writing)
}

func (f *renderFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntSliceVar(&f.episodes, "episodes", nil, "episode indexes in the file, e.g. 0,3 (default: all)")
	fl.Float64Var(&f.fps, "fps", 30, "frames per second (at most 50 in a GIF)")
	fl.Float64Var(&f.scale, "scale", 1, "size factor: 2 draws CartPole at 1200×800")
	fl.BoolVar(&f.noOverlay, "no-overlay", false, "do not print step, reward and return on the frames")
	fl.BoolVar(&f.truncated, "allow-truncated", false, "draw the complete episodes of a file whose last record is torn (left by a crash)")
}

// check validates the numeric flags before any file is read.
func (f *renderFlags) check() error {
	if !(f.scale > 0) || f.scale > 16 {
		return fmt.Errorf("--scale %v: want a number in (0, 16]", f.scale)
	}
	if !(f.fps > 0) || f.fps > 1000 {
		return fmt.Errorf("--fps %v: want a number in (0, 1000]", f.fps)
	}
	return nil
}

func newRenderCmd(a *app) *cobra.Command {
	var (
		flags renderFlags
		out   string
	)
	cmd := &cobra.Command{
		Use:   "render REPLAY_FILE --out OUT",
		Short: "Draw recorded episodes as an animated GIF (--out x.gif) or a directory of PNG frames",
		Long: `Draw episodes of a replay file (a dataset or an evaluation recording).

Frames come from the episode's recorded environment states when present, else from
its observations where they determine the state (classic control), else by rebuilding
the environment from the episode's id and options and replaying its actions from its
seed (gridworld). --out ending in .gif writes one animated GIF with the selected
episodes one after another; any other --out is a new directory of PNG frames named
episodeEEE_stepSSSSS.png. Output appears only when complete.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("render: --out is required (a .gif file or a directory for PNG frames)")
			}
			return a.renderReplay(cmd.Context(), args[0], out, flags)
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "output: a .gif file, or a directory for PNG frames")
	return cmd
}

// selectEpisodes opens path and returns the chosen episodes (all when idx is empty),
// with their indexes in the file.
func selectEpisodes(path string, idx []int, allowTruncated bool) ([]*replay.Episode, []int, error) {
	ds, err := replay.Open(path, replay.Options{AllowTruncatedTail: allowTruncated})
	if err != nil {
		var te *replay.TruncatedError
		if errors.As(err, &te) {
			err = te.WithRemedy("pass --allow-truncated to draw them")
		}
		return nil, nil, fmt.Errorf("read replay file: %w", err)
	}
	n := len(ds.Episodes)
	if len(idx) == 0 {
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
	}
	eps := make([]*replay.Episode, len(idx))
	for k, i := range idx {
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("--episodes: episode %d does not exist: %s holds %d episodes (indexes 0 to %d)", i, path, n, n-1)
		}
		eps[k] = ds.Episodes[i]
	}
	return eps, idx, nil
}

func (a *app) renderReplay(ctx context.Context, path, out string, fl renderFlags) error {
	start := time.Now()
	if err := fl.check(); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	eps, idx, err := selectEpisodes(path, fl.episodes, fl.truncated)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	frames, err := render.WriteEpisodes(ctx, eps, idx, out, render.ReplayOptions{FPS: fl.fps, Scale: fl.scale, NoOverlay: fl.noOverlay})
	if err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	elapsed := time.Since(start)
	a.log.WithFields(map[string]any{
		"out": out, "episodes": len(eps), "frames": frames, "elapsed": elapsed.Round(time.Millisecond),
		"frames_per_s": fmt.Sprintf("%.0f", float64(frames)/elapsed.Seconds()),
	}).Info("rendered")
	fmt.Fprintf(a.stdout, "wrote %s: %d frames of %d episodes\n", out, frames, len(eps))
	return nil
}
