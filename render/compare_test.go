package render

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// gymFrame is one entry of testdata/gymnasium/frames/index.json: a frame rendered by
// Gymnasium's own rgb_array code and the exact state behind it.
type gymFrame struct {
	File   string    `json:"file"`
	EnvID  string    `json:"env_id"`
	Steps  int       `json:"steps"`
	Shape  []int     `json:"shape"`
	State  []float64 `json:"state"`
	LastU  *float64  `json:"last_u"`
	Action []any     `json:"actions"`
}

func loadGymFrames(t testing.TB) []gymFrame {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "gymnasium", "frames", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Frames []gymFrame `json:"frames"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Frames) == 0 {
		t.Fatal("index.json lists no frames")
	}
	return idx.Frames
}

func loadPNG(t testing.TB, path string) *image.RGBA {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rgba := image.NewRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	return rgba
}

// similarity compares two frames of equal size.
//
// ClassIoU: for every scene colour but the background, the "solid" pixels of that
// colour form a mask in each image: pixels whose whole 3×3 neighbourhood lies within
// an L∞ distance of 12 of the colour. Anti-aliased edges and one-pixel lines (the
// static track and target lines, whose blends can pass for another colour) fall out
// of it. The score is the masks' intersection over union; MinIoU is the worst class,
// so every moving part (cart, pole, axle, wheels, links, joints, rod) must be where
// Gymnasium puts it, however small.
//
// ForegroundIoU is the IoU of the non-background masks (any channel more than 64
// away from the background colour), which includes thin strokes such as the
// Pendulum's torque arrow. MAE is the mean absolute per-channel error over all
// pixels, in 0–255 units.
type similarity struct {
	ClassIoU      map[color.RGBA]float64
	MinIoU        float64
	ForegroundIoU float64
	MAE           float64
}

func compareFrames(got, want *image.RGBA, colors []color.RGBA) similarity {
	s := similarity{ClassIoU: map[color.RGBA]float64{}, MinIoU: 1}
	var sum float64
	for i := 0; i < len(want.Pix); i += 4 {
		for k := 0; k < 3; k++ {
			sum += float64(absDiff(got.Pix[i+k], want.Pix[i+k]))
		}
	}
	s.MAE = sum / float64(len(want.Pix)/4*3)
	bg := colors[0]
	s.ForegroundIoU = maskIoU(got, want, func(img *image.RGBA, x, y int) bool {
		return !nearColor(img, x, y, bg, 64)
	})
	for _, c := range colors[1:] {
		iou := maskIoU(got, want, func(img *image.RGBA, x, y int) bool {
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if !nearColor(img, x+dx, y+dy, c, 12) {
						return false
					}
				}
			}
			return true
		})
		s.ClassIoU[c] = iou
		s.MinIoU = min(s.MinIoU, iou)
	}
	return s
}

// nearColor reports whether pixel (x, y) is within tol of c in every channel; pixels
// outside the image are not.
func nearColor(img *image.RGBA, x, y int, c color.RGBA, tol uint8) bool {
	if !(image.Point{x, y}.In(img.Rect)) {
		return false
	}
	p := img.Pix[img.PixOffset(x, y):]
	return absDiff(p[0], c.R) <= tol && absDiff(p[1], c.G) <= tol && absDiff(p[2], c.B) <= tol
}

// maskIoU is the intersection over union of the pixels for which in holds in a and
// in b; two empty masks are identical (1).
func maskIoU(a, b *image.RGBA, in func(img *image.RGBA, x, y int) bool) float64 {
	var inter, union int
	for y := b.Rect.Min.Y; y < b.Rect.Max.Y; y++ {
		for x := b.Rect.Min.X; x < b.Rect.Max.X; x++ {
			p, q := in(a, x, y), in(b, x, y)
			if p && q {
				inter++
			}
			if p || q {
				union++
			}
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

func absDiff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}

// sceneForGym builds the scene for a Gymnasium env id with default constants.
func sceneForGym(t testing.TB, envID string) Scene {
	t.Helper()
	var (
		s   Scene
		err error
	)
	switch envID {
	case "CartPole-v1":
		s, err = NewCartPole(DefaultCartPoleParams(), 1)
	case "MountainCar-v0":
		s, err = NewMountainCar(DefaultMountainCarParams(), 1)
	case "MountainCarContinuous-v0":
		p := DefaultMountainCarParams()
		p.GoalPosition = 0.45
		s, err = NewMountainCar(p, 1)
	case "Acrobot-v1":
		s, err = NewAcrobot(DefaultAcrobotParams(), 1)
	case "Pendulum-v1":
		s, err = NewPendulum(1)
	default:
		t.Fatalf("no scene for %s", envID)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func gymFrameInput(g gymFrame) Frame {
	f := Frame{State: g.State, Step: g.Steps}
	if g.LastU != nil {
		f.LastAction = []float64{*g.LastU}
	}
	return f
}

func drawGym(t testing.TB, g gymFrame, f Frame) (*image.RGBA, Scene) {
	t.Helper()
	s := sceneForGym(t, g.EnvID)
	img := image.NewRGBA(image.Rectangle{Max: s.Size()})
	if err := s.Draw(img, f); err != nil {
		t.Fatal(err)
	}
	return img, s
}

func TestDumpGymnasiumComparison(t *testing.T) {
	if os.Getenv("RENDER_DUMP") == "" {
		t.Skip("set RENDER_DUMP=dir to write our frames beside Gymnasium's")
	}
	dir := os.Getenv("RENDER_DUMP")
	for _, g := range loadGymFrames(t) {
		img, s := drawGym(t, g, gymFrameInput(g))
		want := loadPNG(t, filepath.Join("testdata", "gymnasium", "frames", g.File))
		sim := compareFrames(img, want, s.Colors())
		fmt.Printf("%s: minIoU %.3f fgIoU %.3f MAE %.2f %v\n", g.File, sim.MinIoU, sim.ForegroundIoU, sim.MAE, sim.ClassIoU)
		f, err := os.Create(filepath.Join(dir, g.File))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// Gymnasium agreement thresholds (see similarity). Measured on the reference frames:
// MinIoU 0.88–0.96 without the torque arrow and 0.79 with it (its arrowhead is an
// approximation), ForegroundIoU 0.937–0.997, MAE 0.018–0.182. The perturbed states
// of TestPerturbedStateFailsComparison score MinIoU 0.04–0.87, ForegroundIoU
// 0.27–0.92 and MAE 0.25–3.5, each failing at least one bound.
const (
	minClassIoU      = 0.75
	minForegroundIoU = 0.90
	maxMAE           = 0.22
)

func (s similarity) ok() bool {
	return s.MinIoU >= minClassIoU && s.ForegroundIoU >= minForegroundIoU && s.MAE <= maxMAE
}

func TestMatchesGymnasiumFrames(t *testing.T) {
	for _, g := range loadGymFrames(t) {
		t.Run(g.File, func(t *testing.T) {
			img, s := drawGym(t, g, gymFrameInput(g))
			want := loadPNG(t, filepath.Join("testdata", "gymnasium", "frames", g.File))
			if got, w := img.Rect.Size(), (image.Point{g.Shape[1], g.Shape[0]}); got != w {
				t.Fatalf("size %v, Gymnasium's is %v", got, w)
			}
			sim := compareFrames(img, want, s.Colors())
			t.Logf("min class IoU %.3f, foreground IoU %.3f, MAE %.3f", sim.MinIoU, sim.ForegroundIoU, sim.MAE)
			if !sim.ok() {
				t.Errorf("frame differs from Gymnasium's: min class IoU %.3f (want ≥ %v), foreground IoU %.3f (want ≥ %v), MAE %.3f (want ≤ %v); classes %v",
					sim.MinIoU, minClassIoU, sim.ForegroundIoU, minForegroundIoU, sim.MAE, maxMAE, sim.ClassIoU)
			}
		})
	}
}

// TestPerturbedStateFailsComparison shows the metric is sharp enough to catch a
// wrong drawing: the same frames drawn from slightly wrong states must fail it.
func TestPerturbedStateFailsComparison(t *testing.T) {
	frames := loadGymFrames(t)
	tests := []struct {
		name    string
		file    string
		perturb func(f *Frame)
	}{
		{"cartpole pole angle +0.1", "CartPole-v1_seed0_step10.png", func(f *Frame) { f.State[2] += 0.1 }},
		{"cartpole pole angle sign", "CartPole-v1_seed0_step10.png", func(f *Frame) { f.State[2] = -f.State[2] }},
		{"cartpole x +0.05", "CartPole-v1_seed0_step10.png", func(f *Frame) { f.State[0] += 0.05 }},
		{"mountaincar position +0.03", "MountainCar-v0_seed0_step10.png", func(f *Frame) { f.State[0] += 0.03 }},
		{"acrobot theta2 +0.1", "Acrobot-v1_seed0_step10.png", func(f *Frame) { f.State[1] += 0.1 }},
		{"acrobot theta1 sign", "Acrobot-v1_seed0_step10.png", func(f *Frame) { f.State[0] = -f.State[0] }},
		{"pendulum theta +0.1", "Pendulum-v1_seed0_step10.png", func(f *Frame) { f.State[0] += 0.1 }},
		{"pendulum torque sign", "Pendulum-v1_seed0_step10.png", func(f *Frame) { f.LastAction[0] = -f.LastAction[0] }},
		{"pendulum no torque arrow", "Pendulum-v1_seed0_step10.png", func(f *Frame) { f.LastAction = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g *gymFrame
			for i := range frames {
				if frames[i].File == tt.file {
					g = &frames[i]
				}
			}
			if g == nil {
				t.Fatalf("%s not in index.json", tt.file)
			}
			f := gymFrameInput(*g)
			f.State = append([]float64(nil), f.State...)
			f.LastAction = append([]float64(nil), f.LastAction...)
			tt.perturb(&f)
			img, s := drawGym(t, *g, f)
			want := loadPNG(t, filepath.Join("testdata", "gymnasium", "frames", g.File))
			sim := compareFrames(img, want, s.Colors())
			t.Logf("min class IoU %.3f, foreground IoU %.3f, MAE %.3f", sim.MinIoU, sim.ForegroundIoU, sim.MAE)
			if sim.ok() {
				t.Errorf("perturbed state passes the comparison (min class IoU %.3f, foreground IoU %.3f, MAE %.3f): the metric cannot tell a wrong frame",
					sim.MinIoU, sim.ForegroundIoU, sim.MAE)
			}
		})
	}
}
