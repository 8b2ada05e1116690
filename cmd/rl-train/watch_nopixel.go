//go:build !pixel

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// watchReplay in a build without the pixel tag explains how to get the window.
func (a *app) watchReplay(_ *cobra.Command, _ string, _ renderFlags, _ bool) error {
	return fmt.Errorf("watch: this rl-train was built without the window (build tag \"pixel\"): install the Debian packages %s, rebuild with `go build -tags pixel ./cmd/rl-train`, and run it with a display (or under xvfb-run -a); `rl-train render` writes a GIF without any of that", pixelPackages)
}
