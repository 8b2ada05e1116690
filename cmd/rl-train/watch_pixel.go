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

// pixelBuilt reports whether this binary has the window (build tag pixel).
const pixelBuilt = true

// watchPlayers plays what players gives (fresh players for each pass when looping) in
// a window at --fps. It must run on the main goroutine (cobra runs RunE there), as
// OpenGL requires.
func (a *app) watchPlayers(cmd *cobra.Command, title string, players func() ([]player, error), fl renderFlags, loop bool) error {
	ctx := cmd.Context()
	var ov *render.Overlay
	if !fl.noOverlay {
		ov = render.NewOverlay()
	}
	period := time.Duration(float64(time.Second) / fl.fps)
	err := pixelview.Run(func() error {
		var win *pixelview.Window
		defer func() {
			if win != nil {
				win.Close()
			}
		}()
		next := time.Now()
		for {
			ps, err := players()
			if err != nil {
				return err
			}
			for k, p := range ps {
				ps[k] = player{} // let the scene's buffers go once this episode is done
				size := p.scene.Size()
				if win == nil || win.Size() != size {
					if win != nil {
						win.Close()
					}
					if win, err = pixelview.NewWindow(title, size, false); err != nil {
						win = nil
						return err
					}
				}
				img := image.NewRGBA(image.Rectangle{Max: size})
				err := p.play(ctx, img, ov, func(img *image.RGBA, step int) error {
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
					return fmt.Errorf("episode %d: %w", k, err)
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
