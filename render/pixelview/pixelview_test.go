//go:build pixel

package pixelview

import (
	"errors"
	"fmt"
	"image"
	"os"
	"testing"

	"github.com/evarl/evarl/render"
)

// insideRun is true while the tests run inside Run, with a window possible.
var insideRun bool

// badDisplayErr is what Run returned for an unreachable display, checked by a test.
var badDisplayErr error

func TestMain(m *testing.M) {
	display := os.Getenv("DISPLAY")
	if display == "" {
		fmt.Println("pixelview: DISPLAY is not set; window tests skip (run under xvfb-run -a)")
		os.Exit(m.Run())
	}
	// GLFW panics when it cannot open the display; Run must turn that into an error.
	os.Setenv("DISPLAY", ":7391")
	badDisplayErr = Run(func() error {
		w, err := NewWindow("unreachable", image.Pt(8, 8), true)
		if err == nil {
			w.Close()
		}
		return err
	})
	os.Setenv("DISPLAY", display)

	code := 1
	err := Run(func() error {
		insideRun = true
		code = m.Run()
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pixelview:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func TestRunWithoutDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	called := false
	err := Run(func() error { called = true; return nil })
	if !errors.Is(err, ErrNoDisplay) || called {
		t.Fatalf("Run without DISPLAY: err %v, fn called %v; want ErrNoDisplay and no call", err, called)
	}
}

func TestRunUnreachableDisplay(t *testing.T) {
	if !insideRun {
		t.Skip("no display")
	}
	if badDisplayErr == nil {
		t.Fatal("opening a window on an unreachable display returned no error")
	}
	t.Logf("unreachable display: %v", badDisplayErr)
}

// TestWindowShowsFrame draws CartPole and Acrobot frames with package render, shows
// them and reads the window back with glReadPixels: the pixels on screen must be the
// frame's (exactly, up to one level of rounding in the driver).
func TestWindowShowsFrame(t *testing.T) {
	if !insideRun {
		t.Skip("no display: run under xvfb-run -a go test -tags pixel ./render/...")
	}
	cart, err := render.NewCartPole(render.DefaultCartPoleParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	acro, err := render.NewAcrobot(render.DefaultAcrobotParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		scene render.Scene
		state []float64
	}{
		{"cartpole", cart, []float64{0.3, 0, 0.15, 0}},
		{"acrobot", acro, []float64{0.5, -0.8, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rectangle{Max: tt.scene.Size()})
			if err := tt.scene.Draw(img, render.Frame{State: tt.state}); err != nil {
				t.Fatal(err)
			}
			win, err := NewWindow("pixelview test", tt.scene.Size(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer win.Close()
			if err := win.Show(img); err != nil {
				t.Fatal(err)
			}
			got := win.ReadPixels()
			bad, nonWhite := 0, 0
			for i := 0; i < len(img.Pix); i += 4 {
				if img.Pix[i] != 255 || img.Pix[i+1] != 255 || img.Pix[i+2] != 255 {
					nonWhite++
				}
				for k := 0; k < 3; k++ {
					d := int(got.Pix[i+k]) - int(img.Pix[i+k])
					if d > 1 || d < -1 {
						bad++
						break
					}
				}
			}
			if nonWhite == 0 {
				t.Fatal("the test frame is blank")
			}
			if bad != 0 {
				t.Errorf("%d of %d pixels read back from the window differ from the frame", bad, len(img.Pix)/4)
			}
			// A different frame must read back differently (the check can fail).
			other := image.NewRGBA(img.Rect)
			st := append([]float64(nil), tt.state...)
			st[0] += 0.5
			if err := tt.scene.Draw(other, render.Frame{State: st}); err != nil {
				t.Fatal(err)
			}
			if err := win.Show(other); err != nil {
				t.Fatal(err)
			}
			again := win.ReadPixels()
			same := true
			for i := range again.Pix {
				if again.Pix[i] != got.Pix[i] {
					same = false
					break
				}
			}
			if same {
				t.Error("showing another frame left the window unchanged")
			}
		})
	}
}
