//go:build pixel

package main

import (
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/spf13/cobra"

	"github.com/evarl/evarl/render"
	"github.com/evarl/evarl/render/pixelview"
)

// errWindowClosed ends playback when the user closes the window.
var errWindowClosed = errors.New("window closed")

// watchReplay plays the episodes in a window at --fps. It must run on the main
// goroutine (cobra runs RunE there), as OpenGL requires.
func (a *app) watchReplay(cmd *cobra.Command, path string, fl renderFlags, loop bool) error {
	if err := fl.check(); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	eps, idx, err := selectEpisodes(path, fl.episodes, fl.truncated)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if _, _, err := prepareFrames(eps, idx, fl.scale); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	ctx := cmd.Context()
	var ov *render.Overlay
	if !fl.noOverlay {
		ov = render.NewOverlay()
	}
	period := time.Duration(float64(time.Second) / fl.fps)
	err = pixelview.Run(func() error {
		var win *pixelview.Window
		defer func() {
			if win != nil {
				win.Close()
			}
		}()
		next := time.Now()
		for {
			// Fresh frame sources each pass: they are read once.
			sources, _, err := prepareFrames(eps, idx, fl.scale)
			if err != nil {
				return err
			}
			for k, src := range sources {
				sources[k] = nil // let the scene's buffers go once this episode is done
				size := src.Scene.Size()
				if win == nil || win.Size() != size {
					if win != nil {
						win.Close()
					}
					if win, err = pixelview.NewWindow("rl-train watch: "+path, size, false); err != nil {
						win = nil
						return err
					}
				}
				img := image.NewRGBA(image.Rectangle{Max: size})
				err := src.Play(ctx, img, ov, func(img *image.RGBA, step int) error {
					for time.Now().Before(next) {
						win.Poll()
						if win.Closed() {
							return errWindowClosed
						}
						time.Sleep(min(time.Until(next), 5*time.Millisecond))
					}
					next = next.Add(period)
					if d := time.Since(next); d > period {
						next = time.Now() // fell behind: do not race to catch up
					}
					if win.Closed() {
						return errWindowClosed
					}
					return win.Show(img)
				})
				if err != nil {
					if errors.Is(err, errWindowClosed) {
						return nil
					}
					return fmt.Errorf("episode %d: %w", idx[k], err)
				}
			}
			if !loop {
				return nil
			}
		}
	})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}
