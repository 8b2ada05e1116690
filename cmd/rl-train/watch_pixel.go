//go:build pixel

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/render"
	"github.com/evarl/evarl/render/pixelview"
)

// pixelBuilt reports whether this binary has the window (build tag pixel).
const pixelBuilt = true

// watchPlayers plays what players gives (fresh players for each pass when looping) in
// a window at --fps. It must run on the main goroutine (cobra runs RunE there), as
// OpenGL requires.
func (a *app) watchPlayers(cmd *cobra.Command, title string, players func() ([]render.Player, error), fl renderFlags, loop bool) error {
	if err := pixelview.Play(cmd.Context(), title, fl.fps, loop, fl.noOverlay, players); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}
