package render

import (
	"image/color"
)

// TransparentIndex is the palette slot the GIF writer keeps for "unchanged since the
// previous frame"; Palette never maps a colour to it.
const TransparentIndex = 255

// Palette is a fixed 256-entry GIF palette built once for a scene, with a fast
// colour → index lookup.
//
// Entries: the scene's colours exactly, then their pairwise blends in eighths (the
// anti-aliased edge between two colours is such a blend), a grey ramp, and a 6×6×6
// colour cube for anything else (overlays, unexpected colours); slot 255 is
// transparent. Lookup quantizes each channel to 6 bits and caches the nearest entry
// per bucket on first use (a 256 KiB table), so mapping a frame costs a table read
// per pixel; the scene's own colours always map to themselves exactly.
type Palette struct {
	colors color.Palette
	rgb    [][3]int32
	lut    []uint16 // bucket → index+1, 0 when not computed yet
}

// NewPalette builds the palette for a scene's colours (see Scene.Colors) plus any
// extra ones (the overlay's). At most 255 colours are kept.
func NewPalette(sceneColors ...color.RGBA) *Palette {
	seen := map[color.RGBA]bool{}
	var list []color.RGBA
	add := func(c color.RGBA) {
		c.A = 255
		if !seen[c] && len(list) < TransparentIndex {
			seen[c] = true
			list = append(list, c)
		}
	}
	for _, c := range sceneColors {
		add(c)
	}
	for i, a := range sceneColors {
		for _, b := range sceneColors[i+1:] {
			for k := 1; k < 8; k++ {
				add(blend(a, b, float64(k)/8))
			}
		}
	}
	for v := 0; v <= 255; v += 17 {
		add(color.RGBA{uint8(v), uint8(v), uint8(v), 255})
	}
	for r := 0; r < 6; r++ {
		for g := 0; g < 6; g++ {
			for b := 0; b < 6; b++ {
				add(color.RGBA{uint8(r * 51), uint8(g * 51), uint8(b * 51), 255})
			}
		}
	}
	p := &Palette{colors: make(color.Palette, 256), rgb: make([][3]int32, len(list)), lut: make([]uint16, 1<<18)}
	for i := range p.colors {
		p.colors[i] = color.RGBA{}
	}
	for i, c := range list {
		p.colors[i] = c
		p.rgb[i] = [3]int32{int32(c.R), int32(c.G), int32(c.B)}
	}
	// Exact colours win their bucket, the scene's own (listed first) over later ones.
	for i := len(list) - 1; i >= 0; i-- {
		c := list[i]
		p.lut[bucket(c.R, c.G, c.B)] = uint16(i + 1)
	}
	return p
}

func blend(a, b color.RGBA, t float64) color.RGBA {
	mix := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t + 0.5) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

func bucket(r, g, b uint8) int { return int(r>>2)<<12 | int(g>>2)<<6 | int(b>>2) }

// Colors is the 256-entry palette, slot TransparentIndex included.
func (p *Palette) Colors() color.Palette { return p.colors }

// Index returns the palette index for an RGB colour.
func (p *Palette) Index(r, g, b uint8) uint8 {
	k := bucket(r, g, b)
	if v := p.lut[k]; v != 0 {
		return uint8(v - 1)
	}
	// The bucket's centre stands for all its colours.
	cr, cg, cb := int32(r&^3)+2, int32(g&^3)+2, int32(b&^3)+2
	best, bestD := 0, int32(1<<30)
	for i, c := range p.rgb {
		dr, dg, db := c[0]-cr, c[1]-cg, c[2]-cb
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	p.lut[k] = uint16(best + 1)
	return uint8(best)
}
