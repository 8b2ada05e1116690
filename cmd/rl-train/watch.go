package main

import (
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newWatchCmd) }

// pixelPackages are the Debian packages a `-tags pixel` build needs (DESIGN.md,
// decision 2).
const pixelPackages = "gcc libc6-dev pkg-config libgl1-mesa-dev libgl1-mesa-dri libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev"

func newWatchCmd(a *app) *cobra.Command {
	var (
		flags renderFlags
		loop  bool
	)
	cmd := &cobra.Command{
		Use:   "watch REPLAY_FILE",
		Short: "Play recorded episodes in a window (needs a build with -tags pixel and a display)",
		Long: `Play episodes of a replay file in a window, drawn as ` + "`rl-train render`" + ` draws
them. Close the window, or press Escape or Q, to stop.

The window needs a binary built with the pixel tag (OpenGL through cgo):

  apt-get install ` + pixelPackages + `
  go build -tags pixel ./cmd/rl-train

and an X display (DISPLAY set; headless: xvfb-run -a rl-train watch …).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.watchReplay(cmd, args[0], flags, loop)
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&loop, "loop", false, "play the episodes again until the window is closed")
	return cmd
}
