package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/render"
)

func init() { subcommands = append(subcommands, newWatchCmd) }

// pixelPackages are the Debian packages a `-tags pixel` build needs (DESIGN.md,
// decision 2).
const pixelPackages = "gcc libc6-dev pkg-config libgl1-mesa-dev libgl1-mesa-dri libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev"

// errNoPixel explains, in a build without the window, how to get one.
var errNoPixel = fmt.Errorf("watch: this rl-train was built without the window (build tag \"pixel\"): install the Debian packages %s, rebuild with `go build -tags pixel ./cmd/rl-train`, and run it with a display (or under xvfb-run -a); `rl-train render` writes a GIF without any of that", pixelPackages)

func newWatchCmd(a *app) *cobra.Command {
	var (
		flags                    renderFlags
		loop                     bool
		checkpoint, adapter, tsk string
		target                   float64
		seed                     int64
		live                     int
	)
	cmd := &cobra.Command{
		Use:   "watch [REPLAY_FILE]",
		Short: "Play recorded episodes, or a policy acting live, in a window (needs -tags pixel and a display)",
		Long: `Play episodes of a replay file in a window, drawn as ` + "`rl-train render`" + ` draws
them; or, with --checkpoint (and --adapter) and --task, watch the policy act live,
greedily, conditioned on --target. Close the window, or press Escape or Q, to stop.

The window needs a binary built with the pixel tag (OpenGL through cgo):

  apt-get install ` + pixelPackages + `
  go build -tags pixel ./cmd/rl-train

and an X display (DISPLAY set; headless: xvfb-run -a rl-train watch …).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !pixelBuilt {
				return errNoPixel
			}
			if err := flags.check(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			var players func() ([]render.Player, error)
			var title string
			switch {
			case checkpoint != "" && len(args) == 0:
				p, err := a.livePlayers(checkpoint, adapter, tsk, target, seed, live, flags.scale)
				if err != nil {
					return fmt.Errorf("watch: %w", err)
				}
				players, title = p, "rl-train watch: "+tsk
			case checkpoint == "" && len(args) == 1:
				p, err := replayPlayers(args[0], flags)
				if err != nil {
					return fmt.Errorf("watch: %w", err)
				}
				players, title = p, "rl-train watch: "+args[0]
			default:
				return fmt.Errorf("watch: give a replay file, or --checkpoint and --task (not both)")
			}
			return a.watchPlayers(cmd, title, players, flags, loop)
		},
	}
	flags.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&loop, "loop", false, "play the episodes again until the window is closed")
	fl.StringVar(&checkpoint, "checkpoint", "", "watch this policy act live instead of a replay file")
	fl.StringVar(&adapter, "adapter", "", "with --checkpoint: a LoRA adapter directory to apply")
	fl.StringVar(&tsk, "task", "", "with --checkpoint: the task id to act in, e.g. gridworld/heldout-04")
	fl.Float64Var(&target, "target", 1, "with --checkpoint: the target return the policy is conditioned on")
	fl.Int64Var(&seed, "seed", 1000, "with --checkpoint: episode j resets with seed+j")
	fl.IntVar(&live, "live-episodes", 1, "with --checkpoint: episodes to play")
	return cmd
}

// replayPlayers plays the selected episodes of a replay file; it checks them once
// before the window opens.
func replayPlayers(path string, fl renderFlags) (func() ([]render.Player, error), error) {
	eps, idx, err := selectEpisodes(path, fl.episodes, fl.truncated)
	if err != nil {
		return nil, err
	}
	if _, _, err := render.PrepareFrames(eps, idx, fl.scale); err != nil {
		return nil, err
	}
	return func() ([]render.Player, error) {
		sources, _, err := render.PrepareFrames(eps, idx, fl.scale) // frame sources are read once: fresh ones each pass
		if err != nil {
			return nil, err
		}
		out := make([]render.Player, len(sources))
		for k, src := range sources {
			out[k] = render.Player{Scene: src.Scene, Play: src.Play}
		}
		return out, nil
	}, nil
}

// livePlayers plays episodes of the policy (checkpoint plus optional adapter) acting
// in task.
func (a *app) livePlayers(checkpoint, adapter, task string, target float64, seed int64, n int, scale float64) (func() ([]render.Player, error), error) {
	if n < 1 {
		return nil, fmt.Errorf("--live-episodes %d: want ≥ 1", n)
	}
	tasks, err := envs.ResolveTasks(task)
	if err != nil {
		return nil, err
	}
	if len(tasks) != 1 {
		return nil, fmt.Errorf("--task %q names %d tasks; want one", task, len(tasks))
	}
	gemm, err := a.selectGemm("")
	if err != nil {
		return nil, err
	}
	model, err := a.loadPolicy(checkpoint, adapter, gemm)
	if err != nil {
		return nil, err
	}
	env, err := tasks[0].Make()
	if err != nil {
		return nil, err
	}
	if err := agents.CheckCompatible(model.Config(), env, tasks[0].EnvID); err != nil {
		return nil, err
	}
	return func() ([]render.Player, error) {
		out := make([]render.Player, n)
		for j := range out {
			if out[j], err = livePlayer(model, tasks[0], target, seed+int64(j), scale); err != nil {
				return nil, err
			}
		}
		return out, nil
	}, nil
}
