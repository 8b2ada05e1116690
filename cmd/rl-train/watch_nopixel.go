//go:build !pixel

package main

import (
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/render"
)

// pixelBuilt reports whether this binary has the window (build tag pixel).
const pixelBuilt = false

// watchPlayers in a build without the pixel tag explains how to get the window.
func (a *app) watchPlayers(_ *cobra.Command, _ string, _ func() ([]render.Player, error), _ renderFlags, _ bool) error {
	return errNoPixel
}
