package render

import (
	"image"
	"image/color"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// OverlayColor is the colour of the overlay text; palettes that should hold it
// exactly list it (see NewPalette).
var OverlayColor = color.RGBA{40, 40, 40, 255}

// OverlayBackground is the colour of the box behind the overlay text.
var OverlayBackground = color.RGBA{255, 255, 255, 255}

// Overlay prints "step N  reward R  return G" in the top-left corner of frames
// ("t N r R R G" when that does not fit), in
// the 7×13 bitmap font of golang.org/x/image/font/basicfont. Bitmap glyphs are
// either fully on or off, so the text adds one colour to a GIF, not a ramp of
// anti-aliased ones. An Overlay reuses its buffers; it is not safe for concurrent
// use.
type Overlay struct {
	src image.Uniform
	d   font.Drawer
	buf []byte
}

// NewOverlay returns an overlay drawer.
func NewOverlay() *Overlay {
	o := &Overlay{src: image.Uniform{C: OverlayColor}}
	o.d = font.Drawer{Src: &o.src, Face: basicfont.Face7x13}
	return o
}

// Draw prints the frame's step, reward and return into dst.
func (o *Overlay) Draw(dst *image.RGBA, f Frame) {
	b := o.buf[:0]
	b = append(b, "step "...)
	b = strconv.AppendInt(b, int64(f.Step), 10)
	b = append(b, "  reward "...)
	b = strconv.AppendFloat(b, f.Reward, 'f', 2, 64)
	b = append(b, "  return "...)
	b = strconv.AppendFloat(b, f.Return, 'f', 2, 64)
	if 10+7*len(b) > dst.Rect.Dx() { // too wide for a small frame: the short form
		b = append(b[:0], 't', ' ')
		b = strconv.AppendInt(b, int64(f.Step), 10)
		b = append(b, " r "...)
		b = strconv.AppendFloat(b, f.Reward, 'g', 3, 64)
		b = append(b, " R "...)
		b = strconv.AppendFloat(b, f.Return, 'g', 4, 64)
	}
	o.buf = b
	// A backing box keeps the text readable over any scene (gridworld walls).
	box := image.Rect(2, 2, 10+7*len(b), 19).Add(dst.Rect.Min).Intersect(dst.Rect)
	for y := box.Min.Y; y < box.Max.Y; y++ {
		row := dst.Pix[dst.PixOffset(box.Min.X, y):dst.PixOffset(box.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			row[i], row[i+1], row[i+2], row[i+3] = OverlayBackground.R, OverlayBackground.G, OverlayBackground.B, 255
		}
	}
	o.d.Dst = dst
	o.d.Dot = fixed.P(dst.Rect.Min.X+6, dst.Rect.Min.Y+15)
	o.d.DrawBytes(b)
	o.d.Dst = nil
}
