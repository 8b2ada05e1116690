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
	RegisterScene(classic.CartPoleID, SceneSpec{New: cartPoleScene, StateFromObs: observedState(4)})
}

// cartPoleScene draws a CartPole variant with its own pole length and track.
func cartPoleScene(env envs.Env, scale float64) (Scene, error) {
	e, err := sceneEnv[*classic.CartPole](classic.CartPoleID, env)
	if err != nil {
		return nil, err
	}
	p := e.Params()
	return NewCartPole(CartPoleParams{Length: p.Length, XThreshold: p.XThreshold}, scale)
}

// CartPoleParams are the physical constants CartPole's render uses.
type CartPoleParams struct {
	// Length is half the pole's length (Gymnasium's `length`, 0.5); the drawn pole is
	// 2·Length world units long.
	Length float64
	// XThreshold is the cart position at which the episode fails (2.4); the view
	// spans ±XThreshold.
	XThreshold float64
}

// DefaultCartPoleParams are CartPole-v1's constants.
func DefaultCartPoleParams() CartPoleParams { return CartPoleParams{Length: 0.5, XThreshold: 2.4} }

// CartPole draws CartPole-v1 as Gymnasium does, 600×400 at scale 1. State:
// [x, ẋ, θ, θ̇].
type CartPole struct {
	base
	p CartPoleParams
}

var (
	cartPoleColor = color.RGBA{202, 152, 101, 255}
	cartAxleColor = color.RGBA{129, 132, 203, 255}
)

// NewCartPole returns a CartPole scene for the given constants and scale.
func NewCartPole(p CartPoleParams, scale float64) (*CartPole, error) {
	if !(p.Length > 0) || !(p.XThreshold > 0) || math.IsInf(p.Length, 0) || math.IsInf(p.XThreshold, 0) {
		return nil, fmt.Errorf("render: CartPole length %v and x threshold %v must be positive and finite", p.Length, p.XThreshold)
	}
	b, err := newBase(600, 400, scale)
	if err != nil {
		return nil, err
	}
	return &CartPole{base: b, p: p}, nil
}

// Colors lists background, cart and track, pole, axle.
func (s *CartPole) Colors() []color.RGBA {
	return []color.RGBA{white, black, cartPoleColor, cartAxleColor}
}

// Draw draws one CartPole frame.
func (s *CartPole) Draw(dst *image.RGBA, f Frame) error {
	if err := checkState("CartPole", f.State, 4); err != nil {
		return err
	}
	const (
		width      = 600.0
		cartWidth  = 50.0
		cartHeight = 30.0
		poleWidth  = 10.0
		cartY      = 100.0 // top of the cart, despite its name in Gymnasium
	)
	c, err := s.begin(dst, func(c *Canvas) {
		c.Fill(white)
		c.Rect(0, int(cartY), int(width), int(cartY), black) // gfxdraw.hline
	})
	if err != nil {
		return err
	}
	scale := width / (2 * s.p.XThreshold)
	poleLen := scale * 2 * s.p.Length
	axleOffset := cartHeight / 4
	cartX := f.State[0]*scale + width/2
	l, r, t, b := -cartWidth/2, cartWidth/2, cartHeight/2, -cartHeight/2
	s.pts = append(s.pts[:0], Vec{l + cartX, b + cartY}, Vec{l + cartX, t + cartY}, Vec{r + cartX, t + cartY}, Vec{r + cartX, b + cartY})
	s.fillGrown(c, s.pts, black)

	l, r, t, b = -poleWidth/2, poleWidth/2, poleLen-poleWidth/2, -poleWidth/2
	pivot := Vec{cartX, cartY + axleOffset}
	s.pts = s.pts[:0]
	for _, v := range [4]Vec{{l, b}, {l, t}, {r, t}, {r, b}} {
		s.pts = append(s.pts, v.Rotate(-f.State[2]).Add(pivot))
	}
	s.fillGrown(c, s.pts, cartPoleColor)
	c.Circle(Vec{math.Trunc(cartX), math.Trunc(cartY + axleOffset)}, poleWidth/2+0.5, cartAxleColor)
	return nil
}
