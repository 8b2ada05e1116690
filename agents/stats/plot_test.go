package stats

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/metrics"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// hasColor reports whether some pixel of img is within 3 levels of c drawn with
// opacity a over white.
func hasColor(img image.Image, c color.Color, a float64) bool {
	r, g, b, _ := c.RGBA()
	want := [3]float64{float64(r >> 8), float64(g >> 8), float64(b >> 8)}
	for i := range want {
		want[i] = a*want[i] + (1-a)*255
	}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			got := [3]float64{float64(pr >> 8), float64(pg >> 8), float64(pb >> 8)}
			if math.Abs(got[0]-want[0]) <= 3 && math.Abs(got[1]-want[1]) <= 3 && math.Abs(got[2]-want[2]) <= 3 {
				return true
			}
		}
	}
	return false
}

func TestPlots(t *testing.T) {
	_, ms := loadFixture(t)
	cfg := DefaultConfig()
	cfg.Reps, cfg.ProfileReps = 500, 200
	rng := rand.New(rand.NewPCG(8, 9))
	tau := make([]float64, 51)
	for i := range tau {
		tau[i] = 2.5 * float64(i)
	}
	var curves []Curve
	var rows []Interval
	for k, s := range ms {
		prof, err := BootstrapProfile(s, ScoreDistribution, tau, cfg, Stratified(rng))
		if err != nil {
			t.Fatal(err)
		}
		name := string(rune('A' + k))
		curves = append(curves, Curve{Name: name, Profile: prof})
		e, err := Bootstrap(s, cfg, Stratified(rng), IQM)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, Interval{Label: name, Estimate: e[0]})
	}
	p, err := ImprovementMatrix(ms, cfg, Stratified(rng))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		write func(path string) error
		alpha float64 // opacity of the first series' colour
	}{
		{"profiles.png", func(path string) error { return PlotProfiles(path, "profiles", tau, curves) }, 1},
		{"iqm.png", func(path string) error { return PlotIntervals(path, "aggregate", "IQM", rows) }, 0.75},
		{"improvement.png", func(path string) error { return PlotImprovement(path, "P(X > Y)", []string{"A", "B", "C"}, p) }, 0.75},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := tc.write(path); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path)
			if !hasColor(img, metrics.Palette[0], tc.alpha) {
				t.Errorf("%s: no pixel in the first series' colour", tc.name)
			}
		})
	}
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	tau := []float64{0, 50, 100}
	good := []Estimate{{1, 0.9, 1}, {0.5, 0.3, 0.6}, {0, 0, 0.1}}
	nan := math.NaN()
	p := [][]Estimate{{{nan, nan, nan}, {0.6, 0.5, 0.7}}, {{0.4, 0.3, 0.5}, {nan, nan, nan}}}
	for _, tc := range []struct {
		name  string
		write func(path string) error
		want  string
	}{
		{"no curves", func(path string) error { return PlotProfiles(path, "", tau, nil) }, "no curves"},
		{"short curve", func(path string) error {
			return PlotProfiles(path, "", tau, []Curve{{Name: "A", Profile: good[:2]}})
		}, `curve "A" has 2 points for 3 x values`},
		{"NaN in curve", func(path string) error {
			return PlotProfiles(path, "", tau, []Curve{{Name: "A", Profile: []Estimate{good[0], {nan, 0, 1}, good[2]}}})
		}, `curve "A" point 1`},
		{"no rows", func(path string) error { return PlotIntervals(path, "", "IQM", nil) }, "no intervals"},
		{"NaN row", func(path string) error {
			return PlotIntervals(path, "", "IQM", []Interval{{Label: "A", Estimate: Estimate{1, nan, 2}}})
		}, `row "A"`},
		{"names", func(path string) error { return PlotImprovement(path, "", []string{"A"}, p) }, "1 names for a 2-method matrix"},
		{"ragged matrix", func(path string) error {
			return PlotImprovement(path, "", []string{"A", "B"}, [][]Estimate{p[0], p[1][:1]})
		}, "matrix row 1 has 1 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".png")
			err := tc.write(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v; want it to name %s and contain %q", err, path, tc.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed plot", path)
			}
		})
	}
}
