package render

import (
	"image"
	"image/png"
	"os"
	"testing"

	"github.com/evarl/evarl/envs/gridworld"
)

func TestZZDump(t *testing.T) {
	for _, l := range gridworld.Layouts {
		env := newGrid(t, l)
		env.Reset(0)
		s, _ := NewGridWorld(env, 1)
		img := image.NewRGBA(image.Rectangle{Max: s.Size()})
		f := Frame{State: env.State(), Step: 3, Reward: 0.5, Return: 1.25}
		if err := s.Draw(img, f); err != nil {
			t.Fatal(err)
		}
		NewOverlay().Draw(img, f)
		o, _ := os.Create("/tmp/crop/grid_" + l + ".png")
		png.Encode(o, img)
		o.Close()
	}
}
