package render

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// Frame is what one picture shows: an environment state plus the facts the overlay
// prints.
type Frame struct {
	// State is the environment's full internal state in its envs.Stateful layout
	// (for the classic-control environments, Gymnasium's `state`).
	State []float64
	// LastAction is the action that led to State, or nil for the first frame of an
	// episode. Pendulum draws it as Gymnasium draws last_u.
	LastAction []float64
	// Step is the number of actions taken before this frame (0 after reset).
	Step int
	// Reward is the reward of the step that led here (0 on the first frame), and
	// Return the sum of rewards so far.
	Reward, Return float64
}

// Scene draws the frames of one environment. A scene is configured once (physical
// parameters, layout, scale) and then draws many frames; it keeps scratch buffers, so
// one scene must not be used by two goroutines at once.
type Scene interface {
	// Size is the frame size in pixels (the native size times the scale).
	Size() image.Point
	// Draw draws f into dst, which must be exactly Size() with its origin at (0, 0).
	// Invalid states (wrong length, NaN) are errors, never panics.
	Draw(dst *image.RGBA, f Frame) error
	// Colors lists the colours the scene paints with, background first, so that
	// GIF palettes can hold them and their anti-aliased blends exactly.
	Colors() []color.RGBA
}

// Render draws f with scene s into any draw.Image: directly when dst is an
// *image.RGBA of the scene's size at the origin, else through scratch (which may be
// nil; it is returned, allocated or reused, for the next call). The caller owns dst.
func Render(dst draw.Image, s Scene, f Frame, scratch *image.RGBA) (*image.RGBA, error) {
	size := s.Size()
	if rgba, ok := dst.(*image.RGBA); ok && rgba.Rect == (image.Rectangle{Max: size}) {
		return scratch, s.Draw(rgba, f)
	}
	if scratch == nil || scratch.Rect.Size() != size {
		scratch = image.NewRGBA(image.Rectangle{Max: size})
	}
	if err := s.Draw(scratch, f); err != nil {
		return scratch, err
	}
	draw.Draw(dst, dst.Bounds(), scratch, image.Point{}, draw.Src)
	return scratch, nil
}

// base holds what every scene shares: native size, scale, the canvas and a cached
// background (the static part of the picture, drawn once).
type base struct {
	native image.Point
	scale  float64
	size   image.Point
	canvas *Canvas
	bg     *image.RGBA
	pts    []Vec
	grown  []Vec
}

func newBase(w, h int, scale float64) (base, error) {
	if !(scale > 0) || math.IsInf(scale, 0) || scale > 16 {
		return base{}, fmt.Errorf("render: scale %v: want a number in (0, 16]", scale)
	}
	size := image.Pt(int(math.Round(float64(w)*scale)), int(math.Round(float64(h)*scale)))
	if size.X < 1 || size.Y < 1 {
		return base{}, fmt.Errorf("render: scale %v makes a %dx%d frame empty", scale, w, h)
	}
	return base{native: image.Pt(w, h), scale: scale, size: size}, nil
}

// Size is the frame size in pixels.
func (b *base) Size() image.Point { return b.size }

// begin checks dst and starts a frame: it copies the cached background, drawing it
// first with drawBG if needed.
func (b *base) begin(dst *image.RGBA, drawBG func(c *Canvas)) (*Canvas, error) {
	if dst.Rect != (image.Rectangle{Max: b.size}) {
		return nil, fmt.Errorf("render: destination is %v, want %v", dst.Rect, image.Rectangle{Max: b.size})
	}
	if b.bg == nil {
		b.bg = image.NewRGBA(image.Rectangle{Max: b.size})
		drawBG(NewCanvas(b.bg, b.native.Y, b.scale))
	}
	copy(dst.Pix, b.bg.Pix)
	if b.canvas == nil || b.canvas.img != dst {
		b.canvas = NewCanvas(dst, b.native.Y, b.scale)
	}
	return b.canvas, nil
}

// fillGrown fills the convex polygon pts as pygame's aapolygon + filled_polygon pair
// covers it: gfxdraw truncates the vertices to integers and fills every pixel whose
// centre lies in the closed polygon, i.e. the integer polygon grown by half a pixel.
func (b *base) fillGrown(c *Canvas, pts []Vec, col color.RGBA) {
	for i, p := range pts {
		pts[i] = Vec{math.Trunc(p.X), math.Trunc(p.Y)}
	}
	b.grown = Grow(b.grown, pts, 0.5)
	c.Polygon(b.grown, col)
}

// checkState validates a state vector's length and finiteness.
func checkState(scene string, state []float64, want int) error {
	if len(state) != want {
		return fmt.Errorf("render: %s state has %d values, want %d", scene, len(state), want)
	}
	for i, v := range state {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("render: %s state[%d] = %v, want a finite number", scene, i, v)
		}
	}
	return nil
}

var (
	_ Scene = (*CartPole)(nil)
	_ Scene = (*MountainCar)(nil)
	_ Scene = (*Acrobot)(nil)
	_ Scene = (*Pendulum)(nil)
	_ Scene = (*GridWorld)(nil)
)
