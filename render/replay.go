package render

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"

	"github.com/evarl/evarl/replay"
)

// ReplayOptions says how WriteEpisodes draws.
type ReplayOptions struct {
	// FPS is the frame rate of a GIF (at most 50: GIF delays count hundredths).
	FPS float64
	// Scale is the size factor: 2 draws CartPole at 1200×800.
	Scale float64
	// NoOverlay hides the step, reward and return text.
	NoOverlay bool
}

// PrepareFrames builds the frame sources of episodes and the palette that holds all
// their scenes' colours; labels name the episodes in errors (their indexes in a
// file). Sources are cheap until drawn (a scene allocates its pixel buffers on its
// first frame); drop each one once played, so that memory stays at one episode's
// buffers however many episodes are drawn.
func PrepareFrames(eps []*replay.Episode, labels []int, scale float64) ([]*EpisodeFrames, *Palette, error) {
	sources := make([]*EpisodeFrames, len(eps))
	colors := []color.RGBA{}
	for k, ep := range eps {
		ef, err := NewEpisodeFrames(ep, scale)
		if err != nil {
			return nil, nil, fmt.Errorf("episode %d: %w", labels[k], err)
		}
		sources[k] = ef
		colors = append(colors, ef.Scene.Colors()...)
	}
	colors = append(colors, OverlayColor, OverlayBackground)
	return sources, NewPalette(colors...), nil
}

// WriteEpisodes draws episodes one after another into out: an animated GIF when out
// ends in .gif (every episode must draw at the same size), else a new directory of
// PNG frames named episodeEEE_stepSSSSS.png, EEE the episode's label. The output
// appears only when complete. It returns the number of frames written.
func WriteEpisodes(ctx context.Context, eps []*replay.Episode, labels []int, out string, opts ReplayOptions) (int, error) {
	sources, pal, err := PrepareFrames(eps, labels, opts.Scale)
	if err != nil {
		return 0, err
	}
	if len(sources) == 0 {
		return 0, fmt.Errorf("render: no episodes to draw")
	}
	var sink Sink
	size := sources[0].Scene.Size()
	if strings.EqualFold(filepath.Ext(out), ".gif") {
		for k, s := range sources {
			if s.Scene.Size() != size {
				return 0, fmt.Errorf("render: episode %d draws at %v but episode %d at %v: one GIF needs one size; render them separately",
					labels[k], s.Scene.Size(), labels[0], size)
			}
		}
		g, err := CreateGIF(out, size, pal, opts.FPS)
		if err != nil {
			return 0, err
		}
		sink = g
	} else {
		d, err := CreatePNGDir(out)
		if err != nil {
			return 0, err
		}
		sink = d
	}
	var ov *Overlay
	if !opts.NoOverlay {
		ov = NewOverlay()
	}
	frames := 0
	var img *image.RGBA
	for k, src := range sources {
		sources[k] = nil // let the scene's buffers go once this episode is done
		if img == nil || img.Rect.Size() != src.Scene.Size() {
			img = image.NewRGBA(image.Rectangle{Max: src.Scene.Size()})
		}
		label := labels[k]
		err := src.Play(ctx, img, ov, func(img *image.RGBA, step int) error {
			frames++
			return sink.WriteFrame(img, label, step)
		})
		if err != nil {
			sink.Abort()
			return frames, fmt.Errorf("render: episode %d: %w", label, err)
		}
	}
	return frames, sink.Close()
}
