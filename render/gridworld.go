package render

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

func init() {
	// The observation (an egocentric view) does not determine the state; episodes
	// are drawn from recorded states or replayed.
	RegisterScene(gridworld.ID, SceneSpec{New: gridWorldScene})
}

// gridWorldScene draws the environment's own layout.
func gridWorldScene(env envs.Env, scale float64) (Scene, error) {
	e, err := sceneEnv[*gridworld.Env](gridworld.ID, env)
	if err != nil {
		return nil, err
	}
	return NewGridWorld(e, scale)
}

// GridLayout is the read-only view of a gridworld layout the scene draws;
// *gridworld.Env provides it.
type GridLayout interface {
	// Size is the side of the square grid, border walls included.
	Size() int
	// CellAt is the cell at column x, row y (row 0 at the top).
	CellAt(x, y int) gridworld.Cell
}

// GridWind is the optional part of a GridLayout with wind (*gridworld.Env provides
// it): the scene draws the wind on the cells where it blows.
type GridWind interface {
	// Wind reports whether the wind blows on cell (x, y) and the heading it pushes
	// toward (0 east, 1 south, 2 west, 3 north).
	Wind(x, y int) (heading int, ok bool)
}

var (
	_ GridLayout = (*gridworld.Env)(nil)
	_ GridWind   = (*gridworld.Env)(nil)
)

// GridCellPixels is the side of one gridworld cell at scale 1, Minigrid's tile size.
const GridCellPixels = 32

var (
	gridFloorColor = color.RGBA{250, 250, 250, 255}
	gridLineColor  = color.RGBA{200, 200, 200, 255}
	gridWallColor  = color.RGBA{100, 100, 100, 255}
	gridLavaColor  = color.RGBA{255, 128, 0, 255}
	gridWaveColor  = color.RGBA{120, 50, 0, 255}
	gridGoalColor  = color.RGBA{0, 190, 0, 255}
	gridAgentColor = color.RGBA{220, 30, 30, 255}
	gridWindColor  = color.RGBA{205, 228, 250, 255}
	gridArrowColor = color.RGBA{70, 120, 200, 255}
)

// GridWorld draws GridWorld-v0 top-down, GridCellPixels per cell at scale 1: floor,
// walls, lava (orange with dark waves, as Minigrid draws it), the goal (green), floor
// with wind (pale blue with a blue arrowhead pointing downwind) and the agent as a
// red triangle pointing along its heading. State: [x, y, heading, t] as
// gridworld.Env.State returns it (heading 0 east, 1 south, 2 west, 3 north).
type GridWorld struct {
	base
	n     int
	cells []gridworld.Cell // row-major copy of the layout
	wind  []int8           // row-major wind heading per cell, −1 for none; nil without wind
}

// NewGridWorld returns a scene for one layout, with its wind when the layout is also
// a GridWind. The layout's cells and wind are copied: the scene draws them as they
// were at construction (gridworld layouts are fixed per task). Pixel buffers are
// allocated on the first Draw, so building many scenes is cheap.
func NewGridWorld(layout GridLayout, scale float64) (*GridWorld, error) {
	n := layout.Size()
	if n < 1 || n > 256 {
		return nil, fmt.Errorf("render: gridworld size %d: want 1 to 256", n)
	}
	b, err := newBase(n*GridCellPixels, n*GridCellPixels, scale)
	if err != nil {
		return nil, err
	}
	s := &GridWorld{base: b, n: n, cells: make([]gridworld.Cell, n*n)}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			s.cells[y*n+x] = layout.CellAt(x, y)
		}
	}
	if w, ok := layout.(GridWind); ok {
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				if d, ok := w.Wind(x, y); ok && d >= 0 && d < 4 {
					if s.wind == nil {
						s.wind = make([]int8, n*n)
						for i := range s.wind {
							s.wind[i] = -1
						}
					}
					s.wind[y*n+x] = int8(d)
				}
			}
		}
	}
	return s, nil
}

// drawLayout draws the static layer (floor, walls, lava, goal) once, on first use.
func (s *GridWorld) drawLayout(c *Canvas) {
	c.Fill(gridFloorColor)
	for y := 0; y < s.n; y++ {
		for x := 0; x < s.n; x++ {
			s.drawCell(c, x, y, s.cells[y*s.n+x])
		}
	}
}

// Colors lists floor, grid lines, wall, lava, waves, goal, agent, and with wind the
// wind's tint and arrow (left out otherwise, so that the palette keeps more blends).
func (s *GridWorld) Colors() []color.RGBA {
	c := []color.RGBA{gridFloorColor, gridLineColor, gridWallColor, gridLavaColor, gridWaveColor, gridGoalColor, gridAgentColor}
	if s.wind != nil {
		c = append(c, gridWindColor, gridArrowColor)
	}
	return c
}

// at maps a point in cell units (x right, y down from the top-left corner of the
// grid) to scene coordinates.
func (s *GridWorld) at(x, y float64) Vec {
	return Vec{x*GridCellPixels - 0.5, float64(s.native.Y) - y*GridCellPixels - 0.5}
}

func (s *GridWorld) box(c *Canvas, x0, y0, x1, y1 float64, col color.RGBA) {
	s.pts = append(s.pts[:0], s.at(x0, y0), s.at(x1, y0), s.at(x1, y1), s.at(x0, y1))
	c.Polygon(s.pts, col)
}

func (s *GridWorld) drawCell(c *Canvas, x, y int, cell gridworld.Cell) {
	fx, fy := float64(x), float64(y)
	const line = 1.0 / GridCellPixels
	switch cell {
	case gridworld.Wall:
		s.box(c, fx, fy, fx+1, fy+1, gridWallColor)
		return
	case gridworld.Lava:
		s.box(c, fx, fy, fx+1, fy+1, gridLavaColor)
		for k := 0; k < 3; k++ {
			wy := fy + 0.3 + 0.2*float64(k)
			for i := 0; i < 4; i++ {
				x0, x1 := fx+0.1+0.2*float64(i), fx+0.3+0.2*float64(i)
				y0, y1 := wy, wy+0.06
				if i%2 == 1 {
					y0, y1 = y1, y0
				}
				c.Segment(s.at(x0, y0), s.at(x1, y1), 2, gridWaveColor)
			}
		}
	case gridworld.Goal:
		s.box(c, fx, fy, fx+1, fy+1, gridGoalColor)
	case gridworld.Empty:
		if s.wind != nil && s.wind[y*s.n+x] >= 0 {
			// A pale cell with an arrowhead pointing downwind, smaller than the agent.
			h := s.wind[y*s.n+x]
			dx, dy := [4]float64{1, 0, -1, 0}[h], [4]float64{0, 1, 0, -1}[h]
			cx, cy := fx+0.5, fy+0.5
			s.box(c, fx, fy, fx+1, fy+1, gridWindColor)
			s.pts = append(s.pts[:0],
				s.at(cx+0.25*dx, cy+0.25*dy),
				s.at(cx-0.15*dx-0.2*dy, cy-0.15*dy+0.2*dx),
				s.at(cx-0.15*dx+0.2*dy, cy-0.15*dy-0.2*dx))
			c.Polygon(s.pts, gridArrowColor)
		}
	}
	// Grid lines on the top and left edge of every non-wall cell.
	s.box(c, fx, fy, fx+1, fy+line, gridLineColor)
	s.box(c, fx, fy, fx+line, fy+1, gridLineColor)
}

// Draw draws one GridWorld frame.
func (s *GridWorld) Draw(dst *image.RGBA, f Frame) error {
	if len(f.State) < 3 {
		return fmt.Errorf("render: GridWorld state has %d values, want [x, y, heading, t]", len(f.State))
	}
	x, y, h := f.State[0], f.State[1], f.State[2]
	n := float64(s.n)
	for i, v := range []float64{x, y, h} {
		if v != math.Trunc(v) || v < 0 || (i < 2 && v >= n) || (i == 2 && v > 3) {
			return fmt.Errorf("render: GridWorld state %v: want integer x, y in [0, %d) and heading in [0, 3]", f.State[:3], s.n)
		}
	}
	c, err := s.begin(dst, s.drawLayout)
	if err != nil {
		return err
	}
	// Minigrid's agent: a triangle from the cell's back edge to its front edge.
	dx, dy := [4]float64{1, 0, -1, 0}[int(h)], [4]float64{0, 1, 0, -1}[int(h)]
	cx, cy := x+0.5, y+0.5
	s.pts = append(s.pts[:0],
		s.at(cx+0.38*dx, cy+0.38*dy),
		s.at(cx-0.3*dx-0.3*dy, cy-0.3*dy+0.3*dx),
		s.at(cx-0.3*dx+0.3*dy, cy-0.3*dy-0.3*dx))
	c.Polygon(s.pts, gridAgentColor)
	return nil
}
