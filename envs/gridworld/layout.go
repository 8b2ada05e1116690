package gridworld

import (
	"fmt"
	"math/rand/v2"
)

// Cell is the content of one grid cell.
type Cell uint8

// The cell kinds, in the order of the observation's one-hot channels.
const (
	Empty Cell = iota // free floor
	Wall              // impassable; moving forward into it leaves the agent in place
	Lava              // passable, but entering it ends the episode with reward 0
	Goal              // entering it ends the episode with reward 1 − 0.9·t/T
	numCells
)

// String names the cell kind.
func (c Cell) String() string {
	switch c {
	case Empty:
		return "empty"
	case Wall:
		return "wall"
	case Lava:
		return "lava"
	case Goal:
		return "goal"
	}
	return fmt.Sprintf("Cell(%d)", uint8(c))
}

// The layout kinds accepted by the "layout" option.
const (
	LayoutRooms = "rooms" // two or four rooms joined by doors in the dividing walls
	LayoutMaze  = "maze"  // a perfect maze carved by randomized depth-first search
	LayoutLava  = "lava"  // an open room crossed by lava strips, each with one gap
)

// Layouts lists the layout kinds, in the order task sets cycle through them.
var Layouts = []string{LayoutRooms, LayoutMaze, LayoutLava}

// dirX and dirY are the unit moves for the headings East, South, West, North (y grows
// downwards, as in Minigrid, so turning right is +1 mod 4).
var (
	dirX = [4]int{1, 0, -1, 0}
	dirY = [4]int{0, 1, 0, -1}
)

// grid is a generated layout: cells row-major (cells[y*size+x]), the border always
// wall, a start cell and a goal cell reachable from it without crossing lava.
type grid struct {
	size           int
	cells          []Cell
	startX, startY int
	goalX, goalY   int
}

func (g *grid) at(x, y int) Cell {
	if x < 0 || y < 0 || x >= g.size || y >= g.size {
		return Wall
	}
	return g.cells[y*g.size+x]
}

func (g *grid) set(x, y int, c Cell) { g.cells[y*g.size+x] = c }

// maxAttempts bounds the deterministic regeneration loop; with the generators below a
// valid layout appears within a few attempts, so hitting the bound means a bug.
const maxAttempts = 1000

// generate builds the layout of the given kind and odd size from the task seed. The
// same (kind, size, seed) always gives the same grid: every random choice comes from
// one PCG stream, and a rejected attempt (goal unreachable or too close) simply
// draws the next attempt from the same stream.
func generate(kind string, size int, seed uint64) (*grid, error) {
	rng := rand.New(rand.NewPCG(seed, 0x67726964776f726c)) // "gridworl"
	minDist := size / 2
	for range maxAttempts {
		g := &grid{size: size, cells: make([]Cell, size*size)}
		for y := range size {
			for x := range size {
				if x == 0 || y == 0 || x == size-1 || y == size-1 {
					g.set(x, y, Wall)
				}
			}
		}
		switch kind {
		case LayoutRooms:
			genRooms(g, rng)
		case LayoutMaze:
			genMaze(g, rng)
		case LayoutLava:
			genLava(g, rng)
		default:
			return nil, fmt.Errorf("layout %q: want one of rooms, maze, lava", kind)
		}
		if g.startX == g.goalX && g.startY == g.goalY {
			continue
		}
		d := g.distances(g.goalX, g.goalY)
		if dist := d[g.startY*size+g.startX]; dist < minDist {
			continue // unreachable (−1) or too easy
		}
		g.set(g.goalX, g.goalY, Goal)
		return g, nil
	}
	return nil, fmt.Errorf("layout %q size %d task seed %d: no valid layout after %d attempts", kind, size, seed, maxAttempts)
}

// distances returns the number of moves from every cell to (tx, ty) through cells that
// are neither wall nor lava (−1 where unreachable), by breadth-first search. Moves are
// reversible, so this is also the distance from (tx, ty) to every cell.
func (g *grid) distances(tx, ty int) []int {
	n := g.size
	dist := make([]int, n*n)
	for i := range dist {
		dist[i] = -1
	}
	queue := make([]int, 0, n*n)
	dist[ty*n+tx] = 0
	queue = append(queue, ty*n+tx)
	for head := 0; head < len(queue); head++ {
		c := queue[head]
		x, y := c%n, c/n
		for d := range 4 {
			nx, ny := x+dirX[d], y+dirY[d]
			if k := g.at(nx, ny); k == Wall || k == Lava {
				continue
			}
			if j := ny*n + nx; dist[j] < 0 {
				dist[j] = dist[c] + 1
				queue = append(queue, j)
			}
		}
	}
	return dist
}

// randomFree returns a uniformly random empty interior cell.
func (g *grid) randomFree(rng *rand.Rand) (int, int) {
	for {
		x, y := 1+rng.IntN(g.size-2), 1+rng.IntN(g.size-2)
		if g.at(x, y) == Empty {
			return x, y
		}
	}
}

// genRooms divides the interior by a vertical wall, a horizontal wall, or both, at
// random positions that leave every room at least two cells wide, and cuts one door
// in each wall segment; with four rooms one of the four doors is left out half of
// the time (the rooms then form a chain rather than a ring).
func genRooms(g *grid, rng *rand.Rand) {
	n := g.size
	split := rng.IntN(3) // 0: vertical wall, 1: horizontal wall, 2: both
	wx, wy := -1, -1
	if split != 1 {
		wx = 3 + rng.IntN(n-6)
		for y := 1; y < n-1; y++ {
			g.set(wx, y, Wall)
		}
	}
	if split != 0 {
		wy = 3 + rng.IntN(n-6)
		for x := 1; x < n-1; x++ {
			g.set(x, wy, Wall)
		}
	}
	// Wall segments as (fixed coordinate, from, to, vertical).
	type segment struct {
		at, from, to int
		vertical     bool
	}
	var segs []segment
	if wx >= 0 {
		if wy >= 0 {
			segs = append(segs, segment{wx, 1, wy - 1, true}, segment{wx, wy + 1, n - 2, true})
		} else {
			segs = append(segs, segment{wx, 1, n - 2, true})
		}
	}
	if wy >= 0 {
		if wx >= 0 {
			segs = append(segs, segment{wy, 1, wx - 1, false}, segment{wy, wx + 1, n - 2, false})
		} else {
			segs = append(segs, segment{wy, 1, n - 2, false})
		}
	}
	closed := -1
	if len(segs) == 4 && rng.IntN(2) == 0 {
		closed = rng.IntN(4)
	}
	for i, s := range segs {
		p := s.from + rng.IntN(s.to-s.from+1)
		if i == closed {
			continue
		}
		if s.vertical {
			g.set(s.at, p, Empty)
		} else {
			g.set(p, s.at, Empty)
		}
	}
	g.startX, g.startY = g.randomFree(rng)
	g.goalX, g.goalY = g.randomFree(rng)
}

// genMaze carves a perfect maze (exactly one path between any two cells) by
// randomized depth-first search over the cells at odd coordinates, knocking down the
// wall between a cell and a random unvisited neighbour two steps away.
func genMaze(g *grid, rng *rand.Rand) {
	n := g.size
	for y := 1; y < n-1; y++ {
		for x := 1; x < n-1; x++ {
			g.set(x, y, Wall)
		}
	}
	m := (n - 1) / 2 // maze cells per side
	visited := make([]bool, m*m)
	start := rng.IntN(m * m)
	stack := []int{start}
	visited[start] = true
	g.set(2*(start%m)+1, 2*(start/m)+1, Empty)
	var next [4]int
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		cx, cy := c%m, c/m
		k := 0
		for d := range 4 {
			nx, ny := cx+dirX[d], cy+dirY[d]
			if nx >= 0 && ny >= 0 && nx < m && ny < m && !visited[ny*m+nx] {
				next[k] = d
				k++
			}
		}
		if k == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		d := next[rng.IntN(k)]
		nx, ny := cx+dirX[d], cy+dirY[d]
		visited[ny*m+nx] = true
		g.set(2*cx+1+dirX[d], 2*cy+1+dirY[d], Empty)
		g.set(2*nx+1, 2*ny+1, Empty)
		stack = append(stack, ny*m+nx)
	}
	g.startX, g.startY = g.randomFree(rng)
	g.goalX, g.goalY = g.randomFree(rng)
}

// genLava lays one to three lava strips across an open room, all vertical or all
// horizontal, on non-adjacent even lines, each with a single gap at a random place;
// the start is on the first free line and the goal on the last, so every path
// crosses every strip through its gap (Minigrid's LavaCrossing, simplified).
func genLava(g *grid, rng *rand.Rand) {
	n := g.size
	var lines []int // candidate strip positions: even interior lines 2 … n−3
	for l := 2; l <= n-3; l += 2 {
		lines = append(lines, l)
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	strips := 1 + rng.IntN(min(3, len(lines)))
	vertical := rng.IntN(2) == 0
	for _, l := range lines[:strips] {
		gap := 1 + rng.IntN(n-2)
		for p := 1; p < n-1; p++ {
			if p == gap {
				continue
			}
			if vertical {
				g.set(l, p, Lava)
			} else {
				g.set(p, l, Lava)
			}
		}
	}
	a, b := 1+rng.IntN(n-2), 1+rng.IntN(n-2)
	near, far := 1, n-2
	if rng.IntN(2) == 0 {
		near, far = far, near
	}
	if vertical {
		g.startX, g.startY, g.goalX, g.goalY = near, a, far, b
	} else {
		g.startX, g.startY, g.goalX, g.goalY = a, near, b, far
	}
}
