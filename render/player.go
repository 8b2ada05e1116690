package render

import (
	"context"
	"image"
)

// Player is one episode to show frame by frame: its scene (for the frame size), and
// Play, which draws each frame into img (with the overlay when ov is not nil) and
// hands it to emit. An EpisodeFrames is one (NewEpisodeFrames); a policy acting live
// is another. The window of render/pixelview plays them.
type Player struct {
	Scene Scene
	Play  func(ctx context.Context, img *image.RGBA, ov *Overlay, emit func(img *image.RGBA, step int) error) error
}
