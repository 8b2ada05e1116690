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
	RegisterScene(classic.PendulumID, SceneSpec{New: pendulumScene, StateFromObs: pendulumState})
}

// pendulumScene draws any Pendulum variant: Gymnasium's render does not depend on
// the physical parameters.
func pendulumScene(env envs.Env, scale float64) (Scene, error) {
	if _, err := sceneEnv[*classic.Pendulum](classic.PendulumID, env); err != nil {
		return nil, err
	}
	return NewPendulum(scale)
}

// pendulumState recovers [θ, θ̇] from the observation [cos θ, sin θ, θ̇].
func pendulumState(obs []float32, dst []float64) []float64 {
	if len(obs) != 3 {
		return nil
	}
	return append(dst[:0], math.Atan2(float64(obs[1]), float64(obs[0])), float64(obs[2]))
}

// Pendulum draws Pendulum-v1 as Gymnasium does, 500×500 at scale 1. State: [θ, θ̇]
// (θ = 0 upright). Gymnasium blits a bitmap (assets/clockwise.png) sized by the
// last torque; this scene approximates it with vector shapes: a 3/4 circular arc
// with an arrowhead, of the same size and direction (counter-clockwise for positive
// torque), drawn when Frame.LastAction is set.
type Pendulum struct {
	base
}

var pendulumRodColor = color.RGBA{204, 77, 77, 255}

// NewPendulum returns a Pendulum scene.
func NewPendulum(scale float64) (*Pendulum, error) {
	b, err := newBase(500, 500, scale)
	if err != nil {
		return nil, err
	}
	return &Pendulum{base: b}, nil
}

// Colors lists background, rod, axle and arrow.
func (s *Pendulum) Colors() []color.RGBA { return []color.RGBA{white, pendulumRodColor, black} }

// Draw draws one Pendulum frame.
func (s *Pendulum) Draw(dst *image.RGBA, f Frame) error {
	if err := checkState("Pendulum", f.State, 2); err != nil {
		return err
	}
	if len(f.LastAction) > 1 || (len(f.LastAction) == 1 && (math.IsNaN(f.LastAction[0]) || math.IsInf(f.LastAction[0], 0))) {
		return fmt.Errorf("render: Pendulum last action %v: want one finite torque", f.LastAction)
	}
	const dim = 500.0
	scale := dim / (2.2 * 2)
	offset := float64(int(dim) / 2)
	c, err := s.begin(dst, func(c *Canvas) { c.Fill(white) })
	if err != nil {
		return err
	}
	rodLen, rodWidth := 1*scale, 0.2*scale
	centre := Vec{offset, offset}
	a := f.State[0] + math.Pi/2
	l, r, t, b := 0.0, rodLen, rodWidth/2, -rodWidth/2
	s.pts = s.pts[:0]
	for _, v := range [4]Vec{{l, b}, {l, t}, {r, t}, {r, b}} {
		s.pts = append(s.pts, v.Rotate(a).Add(centre))
	}
	s.fillGrown(c, s.pts, pendulumRodColor)
	rad := math.Trunc(rodWidth/2) + 0.5
	c.Circle(centre, rad, pendulumRodColor)
	end := Vec{rodLen, 0}.Rotate(a).Add(centre)
	c.Circle(Vec{math.Trunc(end.X), math.Trunc(end.Y)}, rad, pendulumRodColor)
	if len(f.LastAction) == 1 && f.LastAction[0] != 0 {
		u := math.Max(-2, math.Min(2, f.LastAction[0])) // Gymnasium clips the torque to ±2
		s.torqueArrow(c, centre, scale*math.Abs(u)/2, u > 0)
	}
	c.Circle(centre, math.Trunc(0.05*scale)+0.5, black)
	return nil
}

// torqueArrow approximates clockwise.png scaled to size×size: an elliptic arc
// (radii 0.45 and 0.48 of size, centre 0.03·size off the axle, as the bitmap's ring
// is) from the top round to just below 3 o'clock, counter-clockwise, with an
// arrowhead pointing up there; mirrored for clockwise torque. The proportions were
// measured on Gymnasium's frame for u = 1.
func (s *Pendulum) torqueArrow(c *Canvas, axle Vec, size float64, ccw bool) {
	m := 1.0
	if !ccw {
		m = -1
	}
	centre := Vec{axle.X - m*0.03*size, axle.Y}
	rx, ry, width := 0.45*size, 0.48*size, math.Max(1, 0.03*size)
	const start, end = 90 * math.Pi / 180, (360 - 6) * math.Pi / 180
	const n = 48
	prev := Vec{}
	for i := 0; i <= n; i++ {
		ang := start + (end-start)*float64(i)/n
		p := Vec{m * rx * math.Cos(ang), ry * math.Sin(ang)}.Add(centre)
		if i > 0 {
			c.Segment(prev, p, width, black)
		}
		prev = p
	}
	s.pts = append(s.pts[:0],
		Vec{m * (rx - 0.066*size), -0.05 * size}.Add(centre),
		Vec{m * rx, 0.137 * size}.Add(centre),
		Vec{m * (rx + 0.066*size), -0.05 * size}.Add(centre))
	c.Polygon(s.pts, black)
}
