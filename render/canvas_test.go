package render

import (
	"image"
	"image/color"
	"math"
	"testing"
)

func TestGrow(t *testing.T) {
	tests := []struct {
		name string
		in   []Vec
		d    float64
		want []Vec
	}{
		{"unit square ccw", []Vec{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, 0.5, []Vec{{-0.5, -0.5}, {1.5, -0.5}, {1.5, 1.5}, {-0.5, 1.5}}},
		{"unit square cw", []Vec{{0, 0}, {0, 1}, {1, 1}, {1, 0}}, 0.5, []Vec{{-0.5, -0.5}, {-0.5, 1.5}, {1.5, 1.5}, {1.5, -0.5}}},
		// A right triangle's hypotenuse corner moves by d·(1 + √2) along its bisector.
		{"triangle", []Vec{{0, 0}, {2, 0}, {0, 2}}, 1, []Vec{{-1, -1}, {2 + 1 + math.Sqrt2, -1}, {-1, 2 + 1 + math.Sqrt2}}},
		{"degenerate", []Vec{{0, 0}, {1, 1}, {2, 2}}, 1, []Vec{{0, 0}, {1, 1}, {2, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Grow(nil, tt.in, tt.d)
			for i := range tt.want {
				if math.Abs(got[i].X-tt.want[i].X) > 1e-12 || math.Abs(got[i].Y-tt.want[i].Y) > 1e-12 {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestCanvasCoordinates checks the scene → pixel mapping: a scene square covering
// the centres of native pixels x 10..19, y 0..9 (y up) fills exactly image columns
// 10..19 of the bottom ten rows, at scale 1 and doubled at scale 2.
func TestCanvasCoordinates(t *testing.T) {
	for _, scale := range []float64{1, 2} {
		const h = 40
		img := image.NewRGBA(image.Rect(0, 0, int(60*scale), int(h*scale)))
		c := NewCanvas(img, h, scale)
		c.Fill(white)
		c.Polygon([]Vec{{9.5, -0.5}, {19.5, -0.5}, {19.5, 9.5}, {9.5, 9.5}}, black)
		for y := 0; y < img.Rect.Dy(); y++ {
			for x := 0; x < img.Rect.Dx(); x++ {
				in := x >= int(10*scale) && x < int(20*scale) && y >= int((h-10)*scale)
				want := white
				if in {
					want = black
				}
				if got := img.RGBAAt(x, y); got != want {
					t.Fatalf("scale %v: pixel (%d, %d) = %v, want %v", scale, x, y, got, want)
				}
			}
		}
	}
}

func TestRenderIntoAnyImage(t *testing.T) {
	s, err := NewAcrobot(DefaultAcrobotParams(), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	f := Frame{State: []float64{0.3, 0.4, 0, 0}}
	want := image.NewRGBA(image.Rectangle{Max: s.Size()})
	if err := s.Draw(want, f); err != nil {
		t.Fatal(err)
	}
	dst := image.NewNRGBA(image.Rectangle{Max: s.Size()})
	if _, err := Render(dst, s, f, nil); err != nil {
		t.Fatal(err)
	}
	for y := 0; y < s.Size().Y; y++ {
		for x := 0; x < s.Size().X; x++ {
			if got := color.RGBAModel.Convert(dst.At(x, y)); got != want.At(x, y) {
				t.Fatalf("pixel (%d, %d) = %v, want %v", x, y, got, want.At(x, y))
			}
		}
	}
	if s.Size() != image.Pt(250, 250) {
		t.Errorf("Acrobot at scale 0.5 is %v, want 250x250", s.Size())
	}
}

// TestScenesExtremeStates: any finite state draws without error or panic (shapes
// far off screen are clipped), and NaN or a wrong length is an error.
func TestScenesExtremeStates(t *testing.T) {
	cart, _ := NewCartPole(DefaultCartPoleParams(), 1)
	car, _ := NewMountainCar(DefaultMountainCarParams(), 1)
	acro, _ := NewAcrobot(DefaultAcrobotParams(), 1)
	pend, _ := NewPendulum(1.5)
	scenes := map[string]struct {
		s   Scene
		dim int
	}{"cartpole": {cart, 4}, "mountaincar": {car, 2}, "acrobot": {acro, 4}, "pendulum": {pend, 2}}
	for name, sc := range scenes {
		img := image.NewRGBA(image.Rectangle{Max: sc.s.Size()})
		for _, v := range []float64{0, 2.4, -2.45, 1e3, -1e6, 1e12, math.Pi, -7} {
			st := make([]float64, sc.dim)
			for i := range st {
				st[i] = v
			}
			if err := sc.s.Draw(img, Frame{State: st, LastAction: []float64{v}}); err != nil {
				t.Errorf("%s state %v: %v", name, st, err)
			}
		}
		bad := make([]float64, sc.dim)
		bad[0] = math.NaN()
		if err := sc.s.Draw(img, Frame{State: bad}); err == nil {
			t.Errorf("%s: NaN state accepted", name)
		}
		if err := sc.s.Draw(img, Frame{State: make([]float64, sc.dim+1)}); err == nil {
			t.Errorf("%s: state of length %d accepted", name, sc.dim+1)
		}
	}
}
