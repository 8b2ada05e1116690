package render

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// The classic-control scenes follow Gymnasium's pygame render code (gymnasium
// 1.x, envs/classic_control/*.py): the same sizes, colours, shapes and draw order,
// with pygame's gfxdraw fill rules (a filled polygon covers every pixel whose centre
// it contains; a circle of radius r covers a disk of 2r+1 pixels) reproduced by
// growing shapes by half a pixel. Coordinates below are Gymnasium's, y up.

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
)

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
