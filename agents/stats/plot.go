package stats

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/metrics"
)

// Curve is one method's performance profile for PlotProfiles.
type Curve struct {
	Name string
	// Profile holds one estimate per threshold, as BootstrapProfile returns them.
	Profile []Estimate
}

// PlotProfiles draws the performance profiles of several methods over the thresholds
// tau, each a line with its shaded confidence band (rliable's
// plot_performance_profiles), and writes the figure to path as PNG, atomically.
func PlotProfiles(path, title string, tau []float64, curves []Curve) error {
	return PlotBands(path, title, "normalised score τ", "fraction of runs with score > τ", tau, curves, true)
}

// PlotBands draws several methods' curves over x, each a line with its shaded
// confidence band (a Curve's Profile holds one estimate per x), with the given axis
// labels, and writes the figure to path as PNG, atomically; unit fixes the y axis to
// [0, 1]. Learning curves with interval bands use it.
func PlotBands(path, title, xlabel, ylabel string, tau []float64, curves []Curve, unit bool) error {
	if len(curves) == 0 || len(tau) == 0 {
		return fmt.Errorf("plot %s: no curves or no points", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	if unit {
		p.Y.Min, p.Y.Max = 0, 1
	}
	p.Add(plotter.NewGrid())
	for k, c := range curves {
		if len(c.Profile) != len(tau) {
			return fmt.Errorf("plot %s: curve %q has %d points for %d x values", path, c.Name, len(c.Profile), len(tau))
		}
		line, band := make(plotter.XYs, len(tau)), make(plotter.XYs, 2*len(tau))
		for i, e := range c.Profile {
			if !finite(e) {
				return fmt.Errorf("plot %s: curve %q point %d is %v; want finite values", path, c.Name, i, e)
			}
			line[i] = plotter.XY{X: tau[i], Y: e.Value}
			band[i] = plotter.XY{X: tau[i], Y: e.Lo}
			band[2*len(tau)-1-i] = plotter.XY{X: tau[i], Y: e.Hi}
		}
		col := metrics.Palette[k%len(metrics.Palette)]
		poly, err := plotter.NewPolygon(band)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		poly.Color = fade(col, 0.2)
		poly.LineStyle.Width = 0
		l, err := plotter.NewLine(line)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		l.Color, l.Width, l.Dashes = col, vg.Points(2), metrics.Dashes(k)
		p.Add(poly, l)
		p.Legend.Add(c.Name, l)
	}
	p.Legend.Top = true
	return savePNG(path, p, 8*vg.Inch, 5*vg.Inch)
}

// Interval is one labelled row of PlotIntervals.
type Interval struct {
	Label string
	Estimate
}

// PlotIntervals draws one horizontal interval per row, first row on top, with a tick at
// the point estimate (rliable's plot_interval_estimates for one metric), and writes the
// figure to path as PNG, atomically. xlabel names the metric, such as "IQM".
func PlotIntervals(path, title, xlabel string, rows []Interval) error {
	p, err := intervalPlot(path, title, xlabel, rows)
	if err != nil {
		return err
	}
	return savePNG(path, p, 8*vg.Inch, rowsHeight(len(rows)))
}

// PlotImprovement draws the probability of improvement of every pair i < j of the
// matrix p (as ImprovementMatrix returns it, names[i] naming method i) as horizontal
// intervals on [0, 1] with a dashed line at 0.5, where neither method is better
// (rliable's plot_probability_of_improvement), and writes the figure to path as PNG,
// atomically. An interval entirely right of 0.5 says X beats Y more often than not.
func PlotImprovement(path, title string, names []string, p [][]Estimate) error {
	if len(p) != len(names) || len(names) < 2 {
		return fmt.Errorf("plot %s: %d names for a %d-method matrix; want one name per method, at least 2", path, len(names), len(p))
	}
	var rows []Interval
	for i := range p {
		if len(p[i]) != len(names) {
			return fmt.Errorf("plot %s: matrix row %d has %d entries; want %d", path, i, len(p[i]), len(names))
		}
		for j := i + 1; j < len(p); j++ {
			rows = append(rows, Interval{Label: names[i] + " vs " + names[j], Estimate: p[i][j]})
		}
	}
	pl, err := intervalPlot(path, title, "P(X > Y)", rows)
	if err != nil {
		return err
	}
	pl.X.Min, pl.X.Max = 0, 1
	half, err := plotter.NewLine(plotter.XYs{{X: 0.5, Y: pl.Y.Min}, {X: 0.5, Y: pl.Y.Max}})
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	half.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	half.Color = color.Gray{Y: 100}
	pl.Add(half)
	return savePNG(path, pl, 8*vg.Inch, rowsHeight(len(rows)))
}

func intervalPlot(path, title, xlabel string, rows []Interval) (*plot.Plot, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("plot %s: no intervals", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Add(plotter.NewGrid())
	const h = 0.6 // row height in units of the row spacing
	var ticks plot.ConstantTicks
	lo, hi := math.Inf(1), math.Inf(-1)
	for k, r := range rows {
		if !finite(r.Estimate) {
			return nil, fmt.Errorf("plot %s: row %q is %v; want finite values", path, r.Label, r.Estimate)
		}
		y := float64(len(rows) - 1 - k)
		box, err := plotter.NewPolygon(plotter.XYs{{X: r.Lo, Y: y - h/2}, {X: r.Hi, Y: y - h/2}, {X: r.Hi, Y: y + h/2}, {X: r.Lo, Y: y + h/2}})
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", path, err)
		}
		box.Color = fade(metrics.Palette[k%len(metrics.Palette)], 0.75)
		box.LineStyle.Width = 0
		mid, err := plotter.NewLine(plotter.XYs{{X: r.Value, Y: y - h/2}, {X: r.Value, Y: y + h/2}})
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", path, err)
		}
		mid.Width = vg.Points(1.5)
		p.Add(box, mid)
		ticks = append(ticks, plot.Tick{Value: y, Label: r.Label})
		lo, hi = min(lo, r.Lo, r.Value), max(hi, r.Hi, r.Value)
	}
	pad := max(0.05*(hi-lo), 1e-9*max(1, math.Abs(hi)))
	p.X.Min, p.X.Max = lo-pad, hi+pad
	p.Y.Tick.Marker = ticks
	p.Y.Min, p.Y.Max = -0.7, float64(len(rows))-0.3
	return p, nil
}

func rowsHeight(n int) vg.Length { return vg.Length(max(2.5, 1.2+0.4*float64(n))) * vg.Inch }

// fade returns c with opacity a.
func fade(c color.Color, a float64) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: uint8(255 * a)}
}

func finite(e Estimate) bool {
	for _, v := range []float64{e.Value, e.Lo, e.Hi} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func savePNG(path string, p *plot.Plot, w, h vg.Length) error {
	img := vgimg.New(w, h)
	p.Draw(draw.New(img))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}
