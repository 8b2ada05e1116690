//go:build pixel

package pixelview

import (
	"errors"
	"fmt"
	"image"
	"os"
	"runtime/debug"

	"github.com/faiface/mainthread"
	"github.com/faiface/pixel"
	"github.com/faiface/pixel/pixelgl"
	"github.com/go-gl/gl/v3.3-core/gl"
)

// ErrNoDisplay is returned (wrapped) by Run when there is no X display to open a
// window on.
var ErrNoDisplay = errors.New("no display: DISPLAY is not set (run under X, or headless with xvfb-run)")

// Run initialises GLFW and runs fn with the OpenGL thread available, returning fn's
// error. It must be called from the main goroutine. Without a display, or when GLFW
// fails, it returns an error instead of panicking.
func Run(fn func() error) (err error) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return fmt.Errorf("pixelview: %w", ErrNoDisplay)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pixelview: cannot start OpenGL/GLFW (is the display %q reachable, and are libgl1-mesa-dri and the X libraries installed?): %v", os.Getenv("DISPLAY"), r)
		}
	}()
	pixelgl.Run(func() {
		// fn runs on its own goroutine: a panic there would kill the process, so it
		// is recovered here and reported as an error.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("pixelview: panic: %v\n%s", r, debug.Stack())
			}
		}()
		err = fn()
	})
	return err
}

// Window is a fixed-size window that shows *image.RGBA frames.
type Window struct {
	win  *pixelgl.Window
	size image.Point
	buf  []uint8 // the frame flipped bottom-up, as OpenGL textures are stored
}

// NewWindow opens a window of the given size. Call it inside Run. hidden keeps the
// window off screen (for tests that only read pixels back).
func NewWindow(title string, size image.Point, hidden bool) (*Window, error) {
	if size.X < 1 || size.Y < 1 {
		return nil, fmt.Errorf("pixelview: window size %v: want positive", size)
	}
	win, err := pixelgl.NewWindow(pixelgl.WindowConfig{
		Title:     title,
		Bounds:    pixel.R(0, 0, float64(size.X), float64(size.Y)),
		Resizable: false,
		VSync:     true,
		Invisible: hidden,
	})
	if err != nil {
		return nil, fmt.Errorf("pixelview: open window: %w", err)
	}
	return &Window{win: win, size: size, buf: make([]uint8, 4*size.X*size.Y)}, nil
}

// Show uploads img (the window's size, opaque) and presents it. Frames are drawn as
// they are: render's scenes are opaque, so premultiplied and straight alpha agree.
func (w *Window) Show(img *image.RGBA) error {
	if img.Rect.Size() != w.size {
		return fmt.Errorf("pixelview: frame is %v, window is %v", img.Rect.Size(), w.size)
	}
	row := 4 * w.size.X
	for y := 0; y < w.size.Y; y++ {
		src := img.Pix[(y)*img.Stride : y*img.Stride+row]
		copy(w.buf[(w.size.Y-1-y)*row:], src)
	}
	w.win.Canvas().SetPixels(w.buf)
	w.win.Update()
	return nil
}

// Closed reports whether the user closed the window (or pressed Escape).
func (w *Window) Closed() bool {
	return w.win.Closed() || w.win.JustPressed(pixelgl.KeyEscape) || w.win.JustPressed(pixelgl.KeyQ)
}

// Poll processes window events without presenting a new frame, so that a paused
// window stays responsive.
func (w *Window) Poll() { w.win.UpdateInput() }

// ReadPixels reads back, with glReadPixels, what the window presents: it blits the
// window's canvas into the default framebuffer's back buffer exactly as
// Window.Update does before a swap, and reads that buffer (the contents of a back
// buffer after a swap, and the front buffer of an X window, are undefined in
// OpenGL). The result is top row first, so tests can compare it with the frame.
func (w *Window) ReadPixels() *image.RGBA {
	out := image.NewRGBA(image.Rectangle{Max: w.size})
	raw := make([]uint8, 4*w.size.X*w.size.Y)
	frame := w.win.Canvas().Frame()
	mainthread.Call(func() {
		tw, th := frame.Texture().Width(), frame.Texture().Height()
		frame.Begin()
		frame.Blit(nil, 0, 0, tw, th, 0, 0, w.size.X, w.size.Y)
		frame.End()
		gl.BindFramebuffer(gl.READ_FRAMEBUFFER, 0)
		gl.ReadBuffer(gl.BACK)
		gl.PixelStorei(gl.PACK_ALIGNMENT, 1)
		gl.ReadPixels(0, 0, int32(w.size.X), int32(w.size.Y), gl.RGBA, gl.UNSIGNED_BYTE, gl.Ptr(raw))
	})
	row := 4 * w.size.X
	for y := 0; y < w.size.Y; y++ {
		copy(out.Pix[y*out.Stride:y*out.Stride+row], raw[(w.size.Y-1-y)*row:])
	}
	return out
}

// Close destroys the window.
func (w *Window) Close() { w.win.Destroy() }

// Size is the window's size in pixels.
func (w *Window) Size() image.Point { return w.size }
