package render

import (
	"image"
	"image/color"
	"math"

	"golang.org/x/image/vector"
)

// Vec is a point or direction in scene coordinates.
type Vec struct{ X, Y float64 }

// Rotate turns v counter-clockwise by a radians, like pygame's Vector2.rotate_rad in
// a y-up frame.
func (v Vec) Rotate(a float64) Vec {
	s, c := math.Sincos(a)
	return Vec{v.X*c - v.Y*s, v.X*s + v.Y*c}
}

// Add returns v+w.
func (v Vec) Add(w Vec) Vec { return Vec{v.X + w.X, v.Y + w.Y} }

// Canvas draws anti-aliased shapes into an *image.RGBA given in scene coordinates:
// the scene's native pixel grid with the origin at the bottom-left corner and y up,
// which is how Gymnasium's pygame code places its shapes before it flips the surface.
// A Canvas multiplies by its scale, so the same scene code draws at any size.
//
// Scene coordinate (x, y) names the centre of native pixel (x, H-1-y); pygame's
// integer pixel coordinates therefore land on pixel centres, as they do in pygame.
//
// Each shape is rasterized only over its own bounding box, so drawing cost follows
// the area of the shapes rather than the size of the frame. A Canvas reuses its
// buffers and does not allocate once warmed up.
type Canvas struct {
	img   *image.RGBA
	scale float64
	h     float64 // native height, for the y flip
	z     vector.Rasterizer
	src   image.Uniform // src.C points at col, so setting a colour does not allocate
	col   color.RGBA
	pts   []Vec
}

// NewCanvas wraps img, whose size must be the scene's native size times scale.
// nativeHeight is the scene's height at scale 1.
func NewCanvas(img *image.RGBA, nativeHeight int, scale float64) *Canvas {
	c := &Canvas{img: img, scale: scale, h: float64(nativeHeight)}
	c.src.C = &c.col
	return c
}

// Image is the destination the canvas draws into.
func (c *Canvas) Image() *image.RGBA { return c.img }

// Scale is the number of output pixels per scene unit.
func (c *Canvas) Scale() float64 { return c.scale }

// toPixel maps a scene point to continuous output-pixel coordinates (y down).
func (c *Canvas) toPixel(p Vec) (float32, float32) {
	return float32((p.X + 0.5) * c.scale), float32((c.h - 0.5 - p.Y) * c.scale)
}

// Fill paints the whole image with col.
func (c *Canvas) Fill(col color.RGBA) {
	pix := c.img.Pix
	if len(pix) < 4 {
		return
	}
	pix[0], pix[1], pix[2], pix[3] = col.R, col.G, col.B, col.A
	for n := 4; n < len(pix); n *= 2 {
		copy(pix[n:], pix[:n])
	}
}

// Polygon fills the closed polygon pts (scene coordinates) with col, anti-aliased.
func (c *Canvas) Polygon(pts []Vec, col color.RGBA) {
	if len(pts) < 3 {
		return
	}
	minX, minY := float32(math.Inf(1)), float32(math.Inf(1))
	maxX, maxY := float32(math.Inf(-1)), float32(math.Inf(-1))
	for _, p := range pts {
		x, y := c.toPixel(p)
		minX, maxX = min(minX, x), max(maxX, x)
		minY, maxY = min(minY, y), max(maxY, y)
	}
	r := image.Rect(int(math.Floor(float64(minX))), int(math.Floor(float64(minY))),
		int(math.Ceil(float64(maxX))), int(math.Ceil(float64(maxY))))
	clip := r.Intersect(c.img.Rect)
	if clip.Empty() {
		return
	}
	// The rasterizer covers the clipped box; points outside it are clipped by the
	// rasterizer itself, which keeps the fill correct at the image border.
	ox, oy := float32(clip.Min.X), float32(clip.Min.Y)
	c.z.Reset(clip.Dx(), clip.Dy())
	for i, p := range pts {
		x, y := c.toPixel(p)
		if i == 0 {
			c.z.MoveTo(x-ox, y-oy)
		} else {
			c.z.LineTo(x-ox, y-oy)
		}
	}
	c.z.ClosePath()
	c.col = col
	c.z.Draw(c.img, clip, &c.src, image.Point{})
}

// Grow returns the convex polygon pts with every edge moved outward by d (scene
// units), into out. pygame's filled_polygon fills every pixel whose centre lies in the
// closed polygon, so its shapes reach half a pixel further than an exact
// anti-aliased fill; growing by 0.5 reproduces that. Degenerate input (fewer than
// three points or zero area) is returned unchanged.
func Grow(out, pts []Vec, d float64) []Vec {
	out = out[:0]
	n := len(pts)
	var area float64
	for i := range pts {
		j := (i + 1) % n
		area += pts[i].X*pts[j].Y - pts[j].X*pts[i].Y
	}
	if n < 3 || area == 0 || d == 0 {
		return append(out, pts...)
	}
	sign := 1.0 // counter-clockwise: the outward normal of edge (dx, dy) is (dy, -dx)
	if area < 0 {
		sign = -1
	}
	for i := range pts {
		prev, cur, next := pts[(i+n-1)%n], pts[i], pts[(i+1)%n]
		n1 := outwardNormal(prev, cur, sign)
		n2 := outwardNormal(cur, next, sign)
		// The corner moves along the bisector so that both edges move by d.
		bx, by := n1.X+n2.X, n1.Y+n2.Y
		k := 1 + n1.X*n2.X + n1.Y*n2.Y
		if k < 1e-9 {
			out = append(out, Vec{cur.X + d*n1.X, cur.Y + d*n1.Y})
			continue
		}
		out = append(out, Vec{cur.X + d*bx/k, cur.Y + d*by/k})
	}
	return out
}

func outwardNormal(a, b Vec, sign float64) Vec {
	dx, dy := b.X-a.X, b.Y-a.Y
	l := math.Hypot(dx, dy)
	if l == 0 {
		return Vec{}
	}
	return Vec{sign * dy / l, -sign * dx / l}
}

// Circle fills a disk of radius r (scene units) centred at p.
func (c *Canvas) Circle(p Vec, r float64, col color.RGBA) {
	// Enough segments that the chord error stays under a tenth of an output pixel.
	rp := r * c.scale
	n := 8
	for rp*(1-math.Cos(math.Pi/float64(n))) > 0.1 && n < 256 {
		n *= 2
	}
	c.pts = c.pts[:0]
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		s, co := math.Sincos(a)
		c.pts = append(c.pts, Vec{p.X + r*co, p.Y + r*s})
	}
	c.Polygon(c.pts, col)
}

// Segment draws a straight stroke of the given width (scene units) from a to b.
func (c *Canvas) Segment(a, b Vec, width float64, col color.RGBA) {
	dx, dy := b.X-a.X, b.Y-a.Y
	l := math.Hypot(dx, dy)
	if l == 0 {
		return
	}
	nx, ny := -dy/l*width/2, dx/l*width/2
	c.pts = append(c.pts[:0],
		Vec{a.X + nx, a.Y + ny}, Vec{b.X + nx, b.Y + ny},
		Vec{b.X - nx, b.Y - ny}, Vec{a.X - nx, a.Y - ny})
	c.Polygon(c.pts, col)
}

// Rect fills the axis-aligned pixel block of native pixels x0 ≤ x ≤ x1,
// y0 ≤ y ≤ y1 (scene coordinates, inclusive, like pygame's hline/vline), without
// anti-aliasing.
func (c *Canvas) Rect(x0, y0, x1, y1 int, col color.RGBA) {
	px0 := int(math.Round(float64(x0) * c.scale))
	px1 := int(math.Round(float64(x1+1) * c.scale))
	py0 := int(math.Round((c.h - 1 - float64(y1)) * c.scale))
	py1 := int(math.Round((c.h - float64(y0)) * c.scale))
	r := image.Rect(px0, py0, max(px1, px0+1), max(py1, py0+1)).Intersect(c.img.Rect)
	if r.Empty() {
		return
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := c.img.Pix[c.img.PixOffset(r.Min.X, y):c.img.PixOffset(r.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			row[i], row[i+1], row[i+2], row[i+3] = col.R, col.G, col.B, col.A
		}
	}
}
