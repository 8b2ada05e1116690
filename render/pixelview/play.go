//go:build pixel

package pixelview

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/evarl/evarl/render"
)

// errWindowClosed ends playback when the user closes the window.
var errWindowClosed = errors.New("window closed")

// Play shows what players gives in a window titled title, at fps frames per
// second, with the step/reward/return overlay unless noOverlay; with loop it asks
// players for fresh players and plays again until the window is closed. Closing the
// window (or Escape, Q) ends it without error. It must run on the main goroutine, as
// OpenGL requires (Run arranges that).
func Play(ctx context.Context, title string, fps float64, loop, noOverlay bool, players func() ([]render.Player, error)) error {
	var ov *render.Overlay
	if !noOverlay {
		ov = render.NewOverlay()
	}
	period := time.Duration(float64(time.Second) / fps)
	return Run(func() error {
		var win *Window
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
				ps[k] = render.Player{} // let the scene's buffers go once this episode is done
				size := p.Scene.Size()
				if win == nil || win.Size() != size {
					if win != nil {
						win.Close()
					}
					if win, err = NewWindow(title, size, false); err != nil {
						win = nil
						return err
					}
				}
				img := image.NewRGBA(image.Rectangle{Max: size})
				err := p.Play(ctx, img, ov, func(img *image.RGBA, _ int) error {
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
				if errors.Is(err, errWindowClosed) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("episode %d: %w", k, err)
				}
			}
			if !loop {
				return nil
			}
		}
	})
}
