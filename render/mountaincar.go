package render

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

func init() {
	RegisterScene(classic.MountainCarID, SceneSpec{New: mountainCarScene, StateFromObs: observedState(2)})
	RegisterScene(classic.MountainCarContinuousID, SceneSpec{New: mountainCarContinuousScene, StateFromObs: observedState(2)})
}

// mountainCarScene and mountainCarContinuousScene draw a variant's own track and flag.
func mountainCarScene(env envs.Env, scale float64) (Scene, error) {
	e, err := sceneEnv[*classic.MountainCar](classic.MountainCarID, env)
	if err != nil {
		return nil, err
	}
	return newMountainCarFrom(e.Params(), scale)
}

func mountainCarContinuousScene(env envs.Env, scale float64) (Scene, error) {
	e, err := sceneEnv[*classic.MountainCarContinuous](classic.MountainCarContinuousID, env)
	if err != nil {
		return nil, err
	}
	return newMountainCarFrom(e.Params(), scale)
}

func newMountainCarFrom(p classic.MountainCarParams, scale float64) (*MountainCar, error) {
	return NewMountainCar(MountainCarParams{MinPosition: p.MinPosition, MaxPosition: p.MaxPosition, GoalPosition: p.GoalPosition}, scale)
}

// MountainCarParams are the constants MountainCar's render uses.
type MountainCarParams struct {
	// MinPosition and MaxPosition bound the track (−1.2, 0.6).
	MinPosition, MaxPosition float64
	// GoalPosition is where the flag stands: 0.5 in MountainCar-v0, 0.45 in
	// MountainCarContinuous-v0.
	GoalPosition float64
}

// DefaultMountainCarParams are MountainCar-v0's constants; MountainCarContinuous-v0
// differs only in GoalPosition (0.45).
func DefaultMountainCarParams() MountainCarParams {
	return MountainCarParams{MinPosition: -1.2, MaxPosition: 0.6, GoalPosition: 0.5}
}

// MountainCar draws MountainCar-v0 and MountainCarContinuous-v0 as Gymnasium does,
// 600×400 at scale 1. State: [position, velocity].
type MountainCar struct {
	base
	p MountainCarParams
}

var (
	wheelColor = color.RGBA{128, 128, 128, 255}
	flagColor  = color.RGBA{204, 204, 0, 255}
)

// NewMountainCar returns a MountainCar scene.
func NewMountainCar(p MountainCarParams, scale float64) (*MountainCar, error) {
	if !(p.MaxPosition > p.MinPosition) || math.IsInf(p.MaxPosition-p.MinPosition, 0) {
		return nil, fmt.Errorf("render: MountainCar positions [%v, %v]: want a finite range with min < max", p.MinPosition, p.MaxPosition)
	}
	b, err := newBase(600, 400, scale)
	if err != nil {
		return nil, err
	}
	return &MountainCar{base: b, p: p}, nil
}

// Colors lists background, car and track, wheels, flag.
func (s *MountainCar) Colors() []color.RGBA {
	return []color.RGBA{white, black, wheelColor, flagColor}
}

func mountainHeight(x float64) float64 { return math.Sin(3*x)*0.45 + 0.55 }

// Draw draws one MountainCar frame.
func (s *MountainCar) Draw(dst *image.RGBA, f Frame) error {
	if err := checkState("MountainCar", f.State, 2); err != nil {
		return err
	}
	const (
		width      = 600.0
		carWidth   = 40.0
		carHeight  = 20.0
		clearance  = 10.0
		flagHeight = 50
	)
	scale := width / (s.p.MaxPosition - s.p.MinPosition)
	c, err := s.begin(dst, func(c *Canvas) {
		c.Fill(white)
		// pygame.draw.aalines through 100 points of the hill.
		const n = 100
		prev := Vec{0, mountainHeight(s.p.MinPosition) * scale}
		for i := 1; i < n; i++ {
			x := s.p.MinPosition + (s.p.MaxPosition-s.p.MinPosition)*float64(i)/(n-1)
			cur := Vec{(x - s.p.MinPosition) * scale, mountainHeight(x) * scale}
			c.Segment(prev, cur, 1, black)
			prev = cur
		}
		flagX := int((s.p.GoalPosition - s.p.MinPosition) * scale)
		flagY1 := int(mountainHeight(s.p.GoalPosition) * scale)
		flagY2 := flagY1 + flagHeight
		c.Rect(flagX, flagY1, flagX, flagY2, black) // gfxdraw.vline
		fx, fy := float64(flagX), float64(flagY2)
		c.Polygon(Grow(nil, []Vec{{fx, fy}, {fx, fy - 10}, {fx + 25, fy - 5}}, 0.5), flagColor)
	})
	if err != nil {
		return err
	}
	pos := f.State[0]
	// Gymnasium tilts the car by cos(3·pos) radians (not by the slope's angle); we
	// draw what it draws.
	tilt := math.Cos(3 * pos)
	origin := Vec{(pos - s.p.MinPosition) * scale, clearance + mountainHeight(pos)*scale}
	l, r, t, b := -carWidth/2, carWidth/2, carHeight, 0.0
	s.pts = s.pts[:0]
	for _, v := range [4]Vec{{l, b}, {l, t}, {r, t}, {r, b}} {
		s.pts = append(s.pts, v.Rotate(tilt).Add(origin))
	}
	s.fillGrown(c, s.pts, black)
	for _, w := range [2]Vec{{carWidth / 4, 0}, {-carWidth / 4, 0}} {
		p := w.Rotate(tilt).Add(origin)
		c.Circle(Vec{math.Trunc(p.X), math.Trunc(p.Y)}, math.Trunc(carHeight/2.5)+0.5, wheelColor)
	}
	return nil
}
