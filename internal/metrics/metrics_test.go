package metrics

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestLoggerRoundTripAndResume(t *testing.T) {
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "metrics"+ext)
			cols := []string{"train/loss", "eval/return"}
			l, err := Open(path, cols, nil)
			if err != nil {
				t.Fatal(err)
			}
			for step := 1; step <= 4; step++ {
				vals := map[string]float64{"train/loss": 1 / float64(step)}
				if step%2 == 0 {
					vals["eval/return"] = float64(10 * step)
				}
				if err := l.Log(step, vals); err != nil {
					t.Fatal(err)
				}
			}
			rows, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 4 || rows[3].Values["eval/return"] != 40 || rows[2].Values["train/loss"] != 1.0/3 {
				t.Fatalf("read back %+v", rows)
			}
			if _, ok := rows[0].Values["eval/return"]; ok {
				t.Errorf("step 1 has an eval/return it was never given")
			}
			// Resume from step 2: rows 3 and 4 are dropped, new ones appended.
			l2, err := Open(path, cols, func(r Row) bool { return r.Step <= 2 })
			if err != nil {
				t.Fatal(err)
			}
			if err := l2.Log(3, map[string]float64{"train/loss": 0.5}); err != nil {
				t.Fatal(err)
			}
			rows, err = Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 3 || rows[2].Step != 3 || rows[2].Values["train/loss"] != 0.5 {
				t.Fatalf("after resume: %+v", rows)
			}
		})
	}
}

// A crash in the middle of a write leaves a torn last line: resuming drops it, a
// plain Read names it.
func TestTornLastLine(t *testing.T) {
	for _, ext := range []string{".jsonl", ".csv"} {
		path := filepath.Join(t.TempDir(), "m"+ext)
		l, err := Open(path, []string{"train/loss"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for step := 1; step <= 2; step++ {
			if err := l.Log(step, map[string]float64{"train/loss": float64(step)}); err != nil {
				t.Fatal(err)
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		torn := `{"step":3,"train/lo`
		if ext == ".csv" {
			torn = `3,"0.`
		}
		f.WriteString(torn)
		f.Close()
		if _, err := Read(path); err == nil {
			t.Errorf("%s: Read of a torn file gave no error", ext)
		}
		l2, err := Open(path, nil, func(Row) bool { return true })
		if err != nil {
			t.Fatalf("%s: resuming over a torn last line: %v", ext, err)
		}
		if rows := l2.Rows(); len(rows) != 2 || rows[1].Step != 2 {
			t.Errorf("%s: kept %+v, want steps 1 and 2", ext, rows)
		}
	}
}

func TestJSONLNaN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.jsonl")
	l, err := Open(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Log(1, map[string]float64{"x": math.NaN()}); err != nil {
		t.Fatal(err)
	}
	rows, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(rows[0].Values["x"]) {
		t.Errorf("NaN did not survive: %v", rows[0].Values)
	}
}

func TestFormatErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "m.txt"), nil, nil); err == nil {
		t.Error("a .txt metrics file was accepted")
	}
}

func TestPlotPNG(t *testing.T) {
	var rows []Row
	for s := 0; s < 50; s++ {
		rows = append(rows, Row{Step: s, Values: map[string]float64{"train/loss": math.Exp(-float64(s) / 10), "eval/return": float64(s)}})
	}
	path := filepath.Join(t.TempDir(), "curve.png")
	err := PlotPNG(path, "test", rows, []Panel{
		{Title: "loss", Keys: []string{"train/loss"}},
		{Title: "return", Keys: []string{"eval/return", "eval/missing"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dy() <= b.Dx()/2 {
		t.Errorf("two stacked panels should be taller than half the width, got %v", b)
	}
	if err := PlotPNG(path, "", rows, []Panel{{Keys: []string{"nothing"}}}); err == nil {
		t.Error("a figure without data was written without error")
	}
}

// Series past the palette's first round are dashed, the first round solid.
func TestDashesAfterThePalette(t *testing.T) {
	for i := range 2 * len(Palette) {
		if got, want := Dashes(i) != nil, i >= len(Palette); got != want {
			t.Errorf("series %d dashed = %v, want %v", i, got, want)
		}
	}
}
