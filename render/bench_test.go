package render

import (
	"image"
	"io"
	"math"
	"testing"
	"time"
)

// benchScenes are the scenes at their native (Gymnasium) sizes: 600×400 for CartPole
// and MountainCar, 500×500 for Acrobot and Pendulum, 352×352 for an 11×11 gridworld.
func benchScenes(b *testing.B) []struct {
	name  string
	scene Scene
	state func(i int) Frame
} {
	cart, _ := NewCartPole(DefaultCartPoleParams(), 1)
	car, _ := NewMountainCar(DefaultMountainCarParams(), 1)
	acro, _ := NewAcrobot(DefaultAcrobotParams(), 1)
	pend, _ := NewPendulum(1)
	grid, err := NewGridWorld(newGrid(b, "lava"), 1)
	if err != nil {
		b.Fatal(err)
	}
	swing := func(i int) float64 { return math.Sin(float64(i) / 7) }
	return []struct {
		name  string
		scene Scene
		state func(i int) Frame
	}{
		{"CartPole", cart, func(i int) Frame { return Frame{State: []float64{swing(i), 0, 0.2 * swing(i+3), 0}} }},
		{"MountainCar", car, func(i int) Frame { return Frame{State: []float64{-0.5 + 0.6*swing(i), 0}} }},
		{"Acrobot", acro, func(i int) Frame { return Frame{State: []float64{2 * swing(i), 3 * swing(i+5), 0, 0}} }},
		{"Pendulum", pend, func(i int) Frame {
			return Frame{State: []float64{3 * swing(i), 0}, LastAction: []float64{2 * swing(i+2)}}
		}},
		{"GridWorld", grid, func(i int) Frame { return Frame{State: []float64{1, 1, float64(i % 4), 0}} }},
	}
}

// reportFPS reports frames per wall-clock second and, where measurable, per CPU
// second of the process since cpu0 (run with GOMAXPROCS=1 for one core).
func reportFPS(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	if d := cpuTime() - cpu0; d > 0 {
		b.ReportMetric(float64(b.N)/d.Seconds(), "frames/cpu-s")
	}
}

// BenchmarkDraw measures drawing one frame (background copy, shapes) per op.
func BenchmarkDraw(b *testing.B) {
	for _, s := range benchScenes(b) {
		b.Run(s.name, func(b *testing.B) {
			img := image.NewRGBA(image.Rectangle{Max: s.scene.Size()})
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				if err := s.scene.Draw(img, s.state(i)); err != nil {
					b.Fatal(err)
				}
			}
			reportFPS(b, cpu0)
		})
	}
}

// BenchmarkGIFEncode measures encoding pre-drawn 600×400 CartPole frames (a cycle of
// 64 distinct frames with the overlay) into a streamed GIF.
func BenchmarkGIFEncode(b *testing.B) {
	frames, scene := cartPoleFrames(b, 64)
	pal := NewPalette(append(scene.Colors(), OverlayColor, OverlayBackground)...)
	w, err := NewGIFWriter(io.Discard, scene.Size(), pal, 50)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		if err := w.WriteFrame(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
	reportFPS(b, cpu0)
}

// BenchmarkEndToEnd measures what `rl-train render` does per frame at 600×400:
// draw, overlay, quantize, crop and LZW-encode into a GIF stream.
func BenchmarkEndToEnd(b *testing.B) {
	for _, s := range benchScenes(b)[:2] {
		b.Run(s.name, func(b *testing.B) {
			img := image.NewRGBA(image.Rectangle{Max: s.scene.Size()})
			pal := NewPalette(append(s.scene.Colors(), OverlayColor, OverlayBackground)...)
			w, err := NewGIFWriter(io.Discard, s.scene.Size(), pal, 50)
			if err != nil {
				b.Fatal(err)
			}
			ov := NewOverlay()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				f := s.state(i)
				f.Step, f.Reward, f.Return = i, 1, float64(i)
				if err := s.scene.Draw(img, f); err != nil {
					b.Fatal(err)
				}
				ov.Draw(img, f)
				if err := w.WriteFrame(img); err != nil {
					b.Fatal(err)
				}
			}
			reportFPS(b, cpu0)
		})
	}
}
