package render

import "image/color"

// The classic-control scenes (cartpole.go, mountaincar.go, acrobot.go, pendulum.go)
// follow Gymnasium's pygame render code (gymnasium 1.x, envs/classic_control/*.py):
// the same sizes, colours, shapes and draw order, with pygame's gfxdraw fill rules (a
// filled polygon covers every pixel whose centre it contains; a circle of radius r
// covers a disk of 2r+1 pixels) reproduced by growing shapes by half a pixel.
// Coordinates in them are Gymnasium's, y up.

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
)

// observedState is the StateFromObs of the environments that observe their state
// exactly (CartPole, both MountainCars): the state is the observation, want values
// long.
func observedState(want int) func(obs []float32, dst []float64) []float64 {
	return func(obs []float32, dst []float64) []float64 {
		if len(obs) != want {
			return nil
		}
		dst = dst[:0]
		for _, v := range obs {
			dst = append(dst, float64(v))
		}
		return dst
	}
}
