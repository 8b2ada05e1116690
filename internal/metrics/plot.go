package metrics

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/evarl/evarl/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Panel is one chart of a figure: the metrics drawn against the step.
type Panel struct {
	Title string
	// Keys are the metric names drawn, one line each; names missing from the rows
	// are skipped.
	Keys []string
	// YLabel labels the vertical axis.
	YLabel string
}

// Palette is the colour-blind-safe set (Okabe–Ito) every evarl figure draws its series
// in, one colour per series in order, so a method keeps its colour across figures.
var Palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
	color.RGBA{0, 0, 0, 255},
}

// Dashes is the dash pattern of series i: solid for the palette's first round, then
// dashed, so that series beyond len(Palette) (an experiment compares eight methods)
// do not look like an earlier series of the same colour.
func Dashes(i int) []vg.Length {
	if i < len(Palette) {
		return nil
	}
	return []vg.Length{vg.Points(6), vg.Points(3)}
}

// PlotPNG draws the panels stacked vertically, each metric as a line over the step,
// and writes the figure to path as PNG (atomically). Panels without data are left out;
// an error is returned when no panel has any.
func PlotPNG(path, title string, rows []Row, panels []Panel) error {
	var plots []*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.Title
		p.X.Label.Text = "step"
		p.Y.Label.Text = pn.YLabel
		p.Add(plotter.NewGrid())
		n := 0
		for i, key := range pn.Keys {
			var xy plotter.XYs
			for _, r := range rows {
				if v, ok := r.Values[key]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
					xy = append(xy, plotter.XY{X: float64(r.Step), Y: v})
				}
			}
			if len(xy) == 0 {
				continue
			}
			line, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("plot %s: %s: %w", path, key, err)
			}
			line.Color = Palette[i%len(Palette)]
			line.Width = vg.Points(1.5)
			line.Dashes = Dashes(i)
			p.Add(line)
			p.Legend.Add(key, line)
			if len(xy) < 30 {
				pts, err := plotter.NewScatter(xy)
				if err == nil {
					pts.Color = line.Color
					pts.Shape = draw.CircleGlyph{}
					p.Add(pts)
				}
			}
			n++
		}
		if n == 0 {
			continue
		}
		p.Legend.Top = true
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return fmt.Errorf("plot %s: no data for any panel", path)
	}
	if title != "" {
		plots[0].Title.Text = title + " — " + plots[0].Title.Text
	}
	const w, h = 8 * vg.Inch, 3 * vg.Inch
	img := vgimg.New(w, h*vg.Length(len(plots)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: vg.Millimeter * 3,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	grid := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*plot.Plot{p}
	}
	cs := plot.Align(grid, tiles, dc)
	for i, p := range plots {
		p.Draw(cs[i][0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}
