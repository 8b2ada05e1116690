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
	RegisterScene(classic.AcrobotID, SceneSpec{New: acrobotScene, StateFromObs: acrobotState})
}

// acrobotScene draws an Acrobot variant with its own link lengths.
func acrobotScene(env envs.Env, scale float64) (Scene, error) {
	e, err := sceneEnv[*classic.Acrobot](classic.AcrobotID, env)
	if err != nil {
		return nil, err
	}
	p := e.Params()
	return NewAcrobot(AcrobotParams{LinkLength1: p.Link1Length, LinkLength2: p.Link2Length}, scale)
}

// acrobotState recovers [θ1, θ2, θ̇1, θ̇2] from the observation
// [cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2].
func acrobotState(obs []float32, dst []float64) []float64 {
	if len(obs) != 6 {
		return nil
	}
	return append(dst[:0],
		math.Atan2(float64(obs[1]), float64(obs[0])), math.Atan2(float64(obs[3]), float64(obs[2])),
		float64(obs[4]), float64(obs[5]))
}

// AcrobotParams are the constants Acrobot's render uses.
type AcrobotParams struct {
	// LinkLength1 and LinkLength2 are the link lengths (1, 1).
	LinkLength1, LinkLength2 float64
}

// DefaultAcrobotParams are Acrobot-v1's constants.
func DefaultAcrobotParams() AcrobotParams { return AcrobotParams{LinkLength1: 1, LinkLength2: 1} }

// Acrobot draws Acrobot-v1 as Gymnasium does, 500×500 at scale 1. State:
// [θ1, θ2, θ̇1, θ̇2].
type Acrobot struct {
	base
	p AcrobotParams
}

var (
	acrobotLinkColor  = color.RGBA{0, 204, 204, 255}
	acrobotJointColor = color.RGBA{204, 204, 0, 255}
)

// NewAcrobot returns an Acrobot scene.
func NewAcrobot(p AcrobotParams, scale float64) (*Acrobot, error) {
	if !(p.LinkLength1 > 0) || !(p.LinkLength2 > 0) || math.IsInf(p.LinkLength1+p.LinkLength2, 0) {
		return nil, fmt.Errorf("render: Acrobot link lengths %v, %v must be positive and finite", p.LinkLength1, p.LinkLength2)
	}
	b, err := newBase(500, 500, scale)
	if err != nil {
		return nil, err
	}
	return &Acrobot{base: b, p: p}, nil
}

// Colors lists background, target line, links, joints.
func (s *Acrobot) Colors() []color.RGBA {
	return []color.RGBA{white, black, acrobotLinkColor, acrobotJointColor}
}

// Draw draws one Acrobot frame.
func (s *Acrobot) Draw(dst *image.RGBA, f Frame) error {
	if err := checkState("Acrobot", f.State, 4); err != nil {
		return err
	}
	const dim = 500.0
	bound := s.p.LinkLength1 + s.p.LinkLength2 + 0.2
	scale := dim / (bound * 2)
	offset := dim / 2
	c, err := s.begin(dst, func(c *Canvas) {
		c.Fill(white)
		// pygame.draw.line at the height the tip must reach (1 world unit up).
		y := int(1*scale + offset)
		c.Rect(int(-2.2*scale+offset), y, int(2.2*scale+offset), y, black)
	})
	if err != nil {
		return err
	}
	th1, th2 := f.State[0], f.State[1]
	joints := [2]Vec{
		{offset, offset},
		{s.p.LinkLength1*math.Sin(th1)*scale + offset, -s.p.LinkLength1*math.Cos(th1)*scale + offset},
	}
	angles := [2]float64{th1 - math.Pi/2, th1 + th2 - math.Pi/2}
	lengths := [2]float64{s.p.LinkLength1 * scale, s.p.LinkLength2 * scale}
	for i, j := range joints {
		l, r, t, b := 0.0, lengths[i], 0.1*scale, -0.1*scale
		s.pts = s.pts[:0]
		for _, v := range [4]Vec{{l, b}, {l, t}, {r, t}, {r, b}} {
			s.pts = append(s.pts, v.Rotate(angles[i]).Add(j))
		}
		s.fillGrown(c, s.pts, acrobotLinkColor)
		c.Circle(Vec{math.Trunc(j.X), math.Trunc(j.Y)}, math.Trunc(0.1*scale)+0.5, acrobotJointColor)
	}
	return nil
}
