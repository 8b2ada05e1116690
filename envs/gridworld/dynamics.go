package gridworld

import (
	"fmt"
	"slices"
	"strings"

	"github.com/evarl/evarl/envs"
)

// Wind directions accepted by the "wind" option: the heading the wind pushes the
// agent toward, or none.
var WindDirections = []string{"none", "east", "south", "west", "north"}

// noWind marks a cell without wind in Env.wind.
const noWind = -1

// windOptions are the options wind, wind_columns and wind_rows as read.
type windOptions struct {
	name             string
	cols, rows       []int
	hasCols, hasRows bool
}

func readWindOptions(r *envs.OptionReader) windOptions {
	w := windOptions{name: r.String("wind", "none", WindDirections...)}
	w.hasCols, w.hasRows = r.Has("wind_columns"), r.Has("wind_rows")
	w.cols, w.rows = r.Ints("wind_columns", nil), r.Ints("wind_rows", nil)
	return w
}

// build turns the options into the wind's heading and a per-cell table (the heading
// the wind pushes toward, or noWind), nil without wind. A north or south wind blows on
// whole columns (wind_columns), an east or west wind on whole rows (wind_rows); the
// list must name distinct interior lines, and the other list must be absent.
func (w windOptions) build(size int) (dir int, cells []int8, err error) {
	dir = slices.Index(WindDirections, w.name) - 1 // "east" → 0, …, "north" → 3
	if dir < 0 {
		if w.hasCols || w.hasRows {
			return noWind, nil, fmt.Errorf("%s: option \"wind_columns\" or \"wind_rows\" without \"wind\": want a wind direction (%s) with it", ID, strings.Join(WindDirections[1:], ", "))
		}
		return noWind, nil, nil
	}
	vertical := dir == 1 || dir == 3
	key, other, lines, hasOther, what := "wind_columns", "wind_rows", w.cols, w.hasRows, "columns x"
	if !vertical {
		key, other, lines, hasOther, what = "wind_rows", "wind_columns", w.rows, w.hasCols, "rows y"
	}
	switch {
	case hasOther:
		return noWind, nil, fmt.Errorf("%s: option %q with wind %s: a %s wind blows on %s; give option %q instead", ID, other, w.name, w.name, what, key)
	case len(lines) == 0:
		return noWind, nil, fmt.Errorf("%s: wind %s needs option %q: a non-empty list of the %s (1 to %d) it blows on", ID, w.name, key, what, size-2)
	}
	cells = make([]int8, size*size)
	for i := range cells {
		cells[i] = noWind
	}
	seen := map[int]bool{}
	for _, l := range lines {
		if l < 1 || l > size-2 || seen[l] {
			return noWind, nil, fmt.Errorf("%s: option %q = %v: want distinct interior lines in [1, %d]", ID, key, lines, size-2)
		}
		seen[l] = true
		for p := 1; p < size-1; p++ {
			if vertical {
				cells[p*size+l] = int8(dir)
			} else {
				cells[l*size+p] = int8(dir)
			}
		}
	}
	return dir, cells, nil
}

// Next returns the agent's state after move m from cell (x, y) with the given
// heading, under this task's dynamics; it is what Step applies, exported so that
// experts plan with the environment's own dynamics (as the classic-control Params
// expose theirs). A turn changes the heading in place; Forward moves one cell along
// the heading unless a wall is there. Then, if the agent stands on a floor cell with
// wind, the wind pushes it one cell downwind unless a wall is there (heading
// unchanged); a push can carry it into lava or onto the goal. The cell Next ends on
// (CellAt) says whether the episode ends: lava or the goal. Next does not check that
// (x, y) is a floor cell.
func (e *Env) Next(x, y, heading int, m Move) (nx, ny, nh int) {
	nx, ny, nh = x, y, heading
	switch m {
	case TurnLeft:
		nh = (heading + 3) % 4
	case TurnRight:
		nh = (heading + 1) % 4
	case Forward:
		if e.g.at(x+dirX[heading], y+dirY[heading]) != Wall {
			nx, ny = x+dirX[heading], y+dirY[heading]
		}
	}
	if d, ok := e.Wind(nx, ny); ok {
		if e.g.at(nx+dirX[d], ny+dirY[d]) != Wall {
			nx, ny = nx+dirX[d], ny+dirY[d]
		}
	}
	return nx, ny, nh
}

// Wind reports whether the wind blows on cell (x, y) and the heading it pushes
// toward (0 east, 1 south, 2 west, 3 north). Only floor cells have wind: on walls,
// lava and the goal it has no effect.
func (e *Env) Wind(x, y int) (heading int, ok bool) {
	if e.wind == nil || e.g.at(x, y) != Empty {
		return 0, false
	}
	d := e.wind[y*e.g.size+x]
	return int(d), d != noWind
}

// WindDirection is the heading the task's wind pushes toward (0 east, 1 south,
// 2 west, 3 north), or −1 without wind.
func (e *Env) WindDirection() int { return e.windDir }

// StepsToGoal returns the fewest steps from state (x, y, heading) to the goal under
// this task's dynamics (Next) without entering lava: 0 on the goal, −1 where the goal
// cannot be reached (walls, lava, and with wind some floor states). An agent that
// always takes a move to a state one step closer reaches the goal in exactly that
// many steps.
func (e *Env) StepsToGoal(x, y, heading int) int {
	n := e.g.size
	if x < 0 || y < 0 || x >= n || y >= n || heading < 0 || heading > 3 {
		return -1
	}
	return int(e.dist[(y*n+x)*4+heading])
}

// stepsToGoal computes the StepsToGoal table, indexed (y·size + x)·4 + heading, by a
// breadth-first search backwards from the goal over the transitions of Next: the
// predecessors of every state are collected once (in compressed rows), so the search
// handles any deterministic dynamics, wind included.
func (e *Env) stepsToGoal() []int32 {
	n := e.g.size
	states := n * n * 4
	// Edges s → Next(s, m) from every floor state that does not end in lava.
	from := make([]int32, 0, 3*states)
	to := make([]int32, 0, 3*states)
	for c := range n * n {
		x, y := c%n, c/n
		if e.g.at(x, y) != Empty {
			continue
		}
		for h := range 4 {
			for m := range Move(NumMoves) {
				nx, ny, nh := e.Next(x, y, h, m)
				if e.g.at(nx, ny) == Lava {
					continue
				}
				from = append(from, int32(c*4+h))
				to = append(to, int32((ny*n+nx)*4+nh))
			}
		}
	}
	// Compressed rows of predecessors: preds[first[t]:first[t+1]] lead to t.
	first := make([]int32, states+1)
	for _, t := range to {
		first[t+1]++
	}
	for i := range states {
		first[i+1] += first[i]
	}
	preds := make([]int32, len(to))
	fill := slices.Clone(first[:states])
	for i, t := range to {
		preds[fill[t]] = from[i]
		fill[t]++
	}
	dist := make([]int32, states)
	for i := range dist {
		dist[i] = -1
	}
	queue := make([]int32, 0, states)
	g := (e.g.goalY*n + e.g.goalX) * 4
	for h := range 4 {
		dist[g+h] = 0
		queue = append(queue, int32(g+h))
	}
	for head := 0; head < len(queue); head++ {
		t := queue[head]
		for _, p := range preds[first[t]:first[t+1]] {
			if dist[p] < 0 {
				dist[p] = dist[t] + 1
				queue = append(queue, p)
			}
		}
	}
	return dist
}
