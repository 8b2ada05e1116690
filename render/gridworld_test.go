package render

import (
	"image"
	"image/color"
	"slices"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

func newGrid(t testing.TB, layout string) *gridworld.Env {
	t.Helper()
	env, err := gridworld.New(envs.Options{"layout": layout, "task_seed": 3})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// pixelAt reads the pixel at a point given in cell units (x right, y down).
func pixelAt(img *image.RGBA, x, y float64) color.RGBA {
	return img.RGBAAt(int(x*GridCellPixels), int(y*GridCellPixels))
}

func TestGridWorldCells(t *testing.T) {
	for _, layout := range gridworld.Layouts {
		t.Run(layout, func(t *testing.T) {
			env := newGrid(t, layout)
			if _, _, err := env.Reset(0); err != nil {
				t.Fatal(err)
			}
			s, err := NewGridWorld(env, 1)
			if err != nil {
				t.Fatal(err)
			}
			n := env.Size()
			if want := image.Pt(n*GridCellPixels, n*GridCellPixels); s.Size() != want {
				t.Fatalf("size %v, want %v", s.Size(), want)
			}
			img := image.NewRGBA(image.Rectangle{Max: s.Size()})
			if err := s.Draw(img, Frame{State: env.State()}); err != nil {
				t.Fatal(err)
			}
			ax, ay, _ := env.Agent()
			want := map[gridworld.Cell]color.RGBA{
				gridworld.Empty: gridFloorColor, gridworld.Wall: gridWallColor,
				gridworld.Lava: gridLavaColor, gridworld.Goal: gridGoalColor,
			}
			seen := map[gridworld.Cell]int{}
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					if x == ax && y == ay {
						continue
					}
					cell := env.CellAt(x, y)
					seen[cell]++
					// A point near the cell's corner: inside the fill, clear of grid
					// lines, lava waves and the agent.
					if got := pixelAt(img, float64(x)+0.15, float64(y)+0.15); got != want[cell] {
						t.Fatalf("cell (%d, %d) is %v, drawn %v, want %v", x, y, cell, got, want[cell])
					}
				}
			}
			if seen[gridworld.Goal] != 1 || seen[gridworld.Wall] == 0 {
				t.Errorf("layout has %d goals and %d walls: the test did not see the cells it should", seen[gridworld.Goal], seen[gridworld.Wall])
			}
			if layout == gridworld.LayoutLava && seen[gridworld.Lava] == 0 {
				t.Error("lava layout drew no lava cell")
			}
		})
	}
}

// TestGridWorldAgentHeading checks the triangle points along each heading as the
// environment defines it (0 east = +x, 1 south = +y, rows counted downwards, …): the
// point 0.3 cells ahead of the centre is agent-coloured, the point 0.35 behind is
// floor, and so are the points 0.35 to either side level with the centre's front.
func TestGridWorldAgentHeading(t *testing.T) {
	env := newGrid(t, gridworld.LayoutRooms)
	if _, _, err := env.Reset(0); err != nil {
		t.Fatal(err)
	}
	x, y, _ := env.Agent()
	s, err := NewGridWorld(env, 2)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rectangle{Max: s.Size()})
	dirs := [4][2]float64{{1, 0}, {0, 1}, {-1, 0}, {0, -1}}
	at := func(fx, fy float64) color.RGBA {
		return img.RGBAAt(int(fx*GridCellPixels*2), int(fy*GridCellPixels*2))
	}
	for h, d := range dirs {
		if err := s.Draw(img, Frame{State: []float64{float64(x), float64(y), float64(h), 0}}); err != nil {
			t.Fatal(err)
		}
		cx, cy := float64(x)+0.5, float64(y)+0.5
		if got := at(cx+0.3*d[0], cy+0.3*d[1]); got != gridAgentColor {
			t.Errorf("heading %d: point ahead is %v, want the agent's colour", h, got)
		}
		if got := at(cx-0.35*d[0], cy-0.35*d[1]); got != gridFloorColor {
			t.Errorf("heading %d: point behind is %v, want floor", h, got)
		}
		for _, side := range []float64{-1, 1} {
			px, py := cx+0.2*d[0]+side*0.35*-d[1], cy+0.2*d[1]+side*0.35*d[0]
			if got := at(px, py); got != gridFloorColor {
				t.Errorf("heading %d: point beside the tip is %v, want floor", h, got)
			}
		}
	}
}

func TestGridWorldRejectsBadState(t *testing.T) {
	env := newGrid(t, gridworld.LayoutMaze)
	s, err := NewGridWorld(env, 1)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rectangle{Max: s.Size()})
	for _, st := range [][]float64{{1, 1}, {1.5, 1, 0, 0}, {-1, 1, 0, 0}, {1, 99, 0, 0}, {1, 1, 4, 0}} {
		if err := s.Draw(img, Frame{State: st}); err == nil {
			t.Errorf("state %v accepted", st)
		}
	}
	if err := s.Draw(image.NewRGBA(image.Rect(0, 0, 5, 5)), Frame{State: []float64{1, 1, 0, 0}}); err == nil {
		t.Error("a destination of the wrong size was accepted")
	}
}

// TestGridWorldWind checks the wind's drawing on a held-out windy task: every floor
// cell with wind is tinted, its arrowhead covers the cell's centre and the point
// 0.1 cells downwind but not the point 0.3 cells upwind; cells without wind keep the
// floor colour; and the palette colours include the wind's only when there is wind.
func TestGridWorldWind(t *testing.T) {
	for _, tc := range []struct {
		wind, key string
		heading   int
	}{{"north", "wind_columns", 3}, {"east", "wind_rows", 0}, {"south", "wind_columns", 1}, {"west", "wind_rows", 2}} {
		env, err := gridworld.New(envs.Options{"layout": "rooms", "task_seed": 1012, "wind": tc.wind, tc.key: []int{3, 4}, "random_start": true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewGridWorld(env, 1)
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewRGBA(image.Rectangle{Max: s.Size()})
		// The agent in a wall-free corner of the map is drawn over one cell only.
		if err := s.Draw(img, Frame{State: []float64{1, 1, 0, 0}}); err != nil {
			t.Fatal(err)
		}
		d := [4][2]float64{{1, 0}, {0, 1}, {-1, 0}, {0, -1}}[tc.heading]
		windy := 0
		for y := 0; y < env.Size(); y++ {
			for x := 0; x < env.Size(); x++ {
				if x == 1 && y == 1 || env.CellAt(x, y) != gridworld.Empty {
					continue
				}
				h, ok := env.Wind(x, y)
				corner := pixelAt(img, float64(x)+0.15, float64(y)+0.15)
				if !ok {
					if corner != gridFloorColor {
						t.Fatalf("%s: calm cell (%d, %d) drawn %v, want floor", tc.wind, x, y, corner)
					}
					continue
				}
				windy++
				if h != tc.heading {
					t.Fatalf("%s: Wind(%d, %d) heading %d, want %d", tc.wind, x, y, h, tc.heading)
				}
				cx, cy := float64(x)+0.5, float64(y)+0.5
				for _, p := range []struct {
					along float64
					want  color.RGBA
				}{{0, gridArrowColor}, {0.1, gridArrowColor}, {-0.3, gridWindColor}} {
					if got := pixelAt(img, cx+p.along*d[0], cy+p.along*d[1]); got != p.want {
						t.Fatalf("%s: cell (%d, %d) at %+.1f cells downwind is %v, want %v", tc.wind, x, y, p.along, got, p.want)
					}
				}
				if corner != gridWindColor {
					t.Fatalf("%s: windy cell (%d, %d) corner is %v, want the wind's tint", tc.wind, x, y, corner)
				}
			}
		}
		if windy < 10 {
			t.Errorf("%s: only %d windy cells drawn", tc.wind, windy)
		}
		if !slices.Contains(s.Colors(), gridWindColor) || !slices.Contains(s.Colors(), gridArrowColor) {
			t.Errorf("%s: Colors() %v lacks the wind's colours", tc.wind, s.Colors())
		}
	}
	calm, err := NewGridWorld(newGrid(t, gridworld.LayoutRooms), 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(calm.Colors(), gridWindColor) {
		t.Error("a scene without wind lists the wind's colours")
	}
}
