//go:build !pixel

package main

import "github.com/spf13/cobra"

// pixelBuilt reports whether this binary has the window (build tag pixel).
const pixelBuilt = false

// watchPlayers in a build without the pixel tag explains how to get the window.
func (a *app) watchPlayers(_ *cobra.Command, _ string, _ func() ([]player, error), _ renderFlags, _ bool) error {
	return errNoPixel
}
