package gridworld

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evarl/evarl/envs"
)

// ID is the registered environment id.
const ID = "GridWorld-v0"

// Move is what an action does once the action permutation has been applied.
type Move int

// The three moves, Minigrid's first three actions.
const (
	TurnLeft  Move = 0 // heading ← heading − 1 (mod 4); the agent stays in place
	TurnRight Move = 1 // heading ← heading + 1 (mod 4)
	Forward   Move = 2 // step one cell along the heading, unless a wall is there
	NumMoves       = 3
)

// String names the move.
func (m Move) String() string {
	switch m {
	case TurnLeft:
		return "left"
	case TurnRight:
		return "right"
	case Forward:
		return "forward"
	}
	return fmt.Sprintf("Move(%d)", int(m))
}

// Defaults of the options (see the package doc).
const (
	DefaultSize = 11
	DefaultView = 7
	// DefaultMaxSteps is the registered time limit, Minigrid's 4·size² for the
	// default size.
	DefaultMaxSteps = 4 * DefaultSize * DefaultSize
)

// StateDim is the length of State(): x, y, heading, steps taken.
const StateDim = 4

// Env is one gridworld task: a fixed layout (from the layout kind, size and task seed)
// and a fixed action permutation. See the package doc for the observation, actions,
// reward and options. The accessors (Size, CellAt, Agent, Goal, …) are read-only views
// for renderers and experts.
type Env struct {
	layout    string
	taskSeed  int
	g         *grid
	view      int
	perm      [NumMoves]Move // perm[a] is the move action a makes
	inv       [NumMoves]int  // inv[m] is the action that makes move m
	randStart bool
	horizon   int // T in the reward 1 − 0.9·t/T

	windDir int     // the heading the wind pushes toward, or noWind
	wind    []int8  // wind[y*size+x]: the wind's heading on that cell, or noWind; nil without wind
	dist    []int32 // StepsToGoal, indexed (y*size+x)*4+heading
	// starts[h] lists the cells (y*size+x) an episode may start from with heading h:
	// every floor cell from which the goal can be reached with random_start, else the
	// layout's start cell, where the goal can be reached from (x, y, h).
	starts       [4][]int32
	startHeading []int // the headings with a start cell, increasing

	pcg    *rand.PCG
	rng    *rand.Rand
	seeded bool

	x, y, heading, t int
	started, done    bool

	obs      []float64
	obsSpace envs.Box
	actSpace envs.Discrete
}

var (
	_ envs.Env       = (*Env)(nil)
	_ envs.Stateful  = (*Env)(nil)
	_ envs.Horizoned = (*Env)(nil)
)

// New builds a gridworld from its options (see the package doc); unknown or invalid
// options are errors that name them.
func New(opts envs.Options) (*Env, error) {
	r := envs.NewOptionReader(ID, opts)
	layout := r.String("layout", LayoutRooms, Layouts...)
	taskSeed := r.Int("task_seed", 0, 0, math.MaxInt32)
	size := r.Int("size", DefaultSize, 7, 63)
	view := r.Int("view", DefaultView, 3, 15)
	randStart := r.Bool("random_start", false)
	perm := r.Ints("action_permutation", []int{0, 1, 2})
	windOpts := readWindOptions(r)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	if size%2 == 0 {
		return nil, fmt.Errorf("%s: option \"size\" = %d: want an odd integer (mazes put cells on odd coordinates)", ID, size)
	}
	if view%2 == 0 {
		return nil, fmt.Errorf("%s: option \"view\" = %d: want an odd integer (the agent is at the centre of its view)", ID, view)
	}
	e := &Env{layout: layout, taskSeed: taskSeed, view: view, randStart: randStart, horizon: DefaultMaxSteps}
	if err := e.setPermutation(perm); err != nil {
		return nil, err
	}
	g, err := generate(layout, size, uint64(taskSeed))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ID, err)
	}
	e.g = g
	if e.windDir, e.wind, err = windOpts.build(size); err != nil {
		return nil, err
	}
	if err := e.findStarts(); err != nil {
		return nil, err
	}
	dim := NumChannels*view*view + 8
	low, high := make([]float64, dim), make([]float64, dim)
	for i := range high {
		high[i] = 1
	}
	e.obsSpace = envs.NewBox(low, high)
	e.actSpace = envs.Discrete{N: NumMoves}
	e.obs = make([]float64, dim)
	e.pcg = rand.NewPCG(0, 0)
	e.rng = rand.New(e.pcg)
	return e, nil
}

func (e *Env) setPermutation(p []int) error {
	if len(p) != NumMoves {
		return fmt.Errorf("%s: option \"action_permutation\" = %v: want a permutation of [0 1 2] (3 integers)", ID, p)
	}
	seen := [NumMoves]bool{}
	for a, m := range p {
		if m < 0 || m >= NumMoves || seen[m] {
			return fmt.Errorf("%s: option \"action_permutation\" = %v: want a permutation of [0 1 2], each once", ID, p)
		}
		seen[m] = true
		e.perm[a] = Move(m)
		e.inv[m] = a
	}
	return nil
}

// ObservationSpace is a Box of NumChannels·view² + 8 values in [0, 1] (see the
// package doc).
func (e *Env) ObservationSpace() envs.Space { return e.obsSpace }

// ActionSpace is Discrete(3).
func (e *Env) ActionSpace() envs.Space { return e.actSpace }

// SetHorizon sets T in the reward 1 − 0.9·t/T; the time limit calls it so that the
// reward and the truncation agree (envs.Horizoned).
func (e *Env) SetHorizon(maxSteps int) {
	if maxSteps > 0 {
		e.horizon = maxSteps
	}
}

// findStarts computes the StepsToGoal table and the start states: with random_start
// every floor state from which the goal can be reached, else the layout's start cell
// with the headings from which it can. Without wind the goal is reachable from every
// heading of a cell or from none (turning is free), so every heading has the same
// start cells.
func (e *Env) findStarts() error {
	e.dist = e.stepsToGoal()
	e.starts, e.startHeading = [4][]int32{}, nil
	n := e.g.size
	for h := range 4 {
		for c := range n * n {
			if e.randStart || c == e.g.startY*n+e.g.startX {
				if e.g.cells[c] == Empty && e.dist[c*4+h] > 0 {
					e.starts[h] = append(e.starts[h], int32(c))
				}
			}
		}
		if len(e.starts[h]) > 0 {
			e.startHeading = append(e.startHeading, h)
		}
	}
	if len(e.startHeading) == 0 {
		what := "the layout's start cell"
		if e.randStart {
			what = "any cell"
		}
		return fmt.Errorf("%s: layout %s task seed %d: the wind makes the goal unreachable from %s", ID, e.layout, e.taskSeed, what)
	}
	return nil
}

// Reset starts an episode with a heading drawn uniformly from the seed and, with
// random_start, a cell drawn uniformly among those from which the goal can be
// reached with that heading (without wind: every floor cell connected to the goal
// without crossing lava); else at the layout's start cell. With wind, headings (and
// cells) from which the wind makes the goal unreachable are left out.
func (e *Env) Reset(seed int64) ([]float64, envs.Info, error) {
	switch {
	case seed >= 0:
		e.pcg.Seed(uint64(seed), 0x6167656e74) // "agent"
		e.seeded = true
	case seed != envs.NoSeed:
		return nil, envs.Info{}, fmt.Errorf("%s: reset seed %d: want a seed ≥ 0 or envs.NoSeed", ID, seed)
	case !e.seeded:
		e.pcg.Seed(0, 0x6167656e74)
		e.seeded = true
	}
	e.heading = e.startHeading[e.rng.IntN(len(e.startHeading))]
	cells := e.starts[e.heading]
	c := int(cells[0])
	if e.randStart {
		c = int(cells[e.rng.IntN(len(cells))])
	}
	e.x, e.y = c%e.g.size, c/e.g.size
	e.t = 0
	e.started, e.done = true, false
	e.observe()
	return e.obs, envs.Info{}, nil
}

// Step applies action (after the permutation) through Next, the wind included.
// Entering the goal terminates with reward 1 − 0.9·t/T and Info.Success; entering
// lava terminates with reward 0.
func (e *Env) Step(action []float64) (envs.Transition, error) {
	a, err := e.actSpace.Index(action)
	if err != nil {
		return envs.Transition{}, fmt.Errorf("%s: %w", ID, err)
	}
	if e.done {
		return envs.Transition{}, fmt.Errorf("%s: %w", ID, envs.ErrEpisodeOver)
	}
	if !e.started {
		e.Reset(envs.NoSeed)
	}
	e.t++
	var tr envs.Transition
	e.x, e.y, e.heading = e.Next(e.x, e.y, e.heading, e.perm[a])
	switch e.g.at(e.x, e.y) {
	case Lava:
		tr.Terminated = true
	case Goal:
		tr.Terminated = true
		tr.Reward = 1 - 0.9*float64(e.t)/float64(e.horizon)
		tr.Info.Success = true
	}
	e.done = tr.Terminated
	e.observe()
	tr.Obs = e.obs
	return tr, nil
}

// State returns [x, y, heading, t]: the agent's cell, its heading (0 east, 1 south,
// 2 west, 3 north) and the steps taken in the episode.
func (e *Env) State() []float64 {
	return []float64{float64(e.x), float64(e.y), float64(e.heading), float64(e.t)}
}

// SetState puts the agent at state = [x, y, heading, t] (see State). The cell must
// not be a wall; on lava or the goal the episode counts as ended.
func (e *Env) SetState(state []float64) error {
	if len(state) != StateDim {
		return fmt.Errorf("%s: state has %d values, want %d (x, y, heading, t)", ID, len(state), StateDim)
	}
	var v [StateDim]int
	names := [StateDim]string{"x", "y", "heading", "t"}
	hi := [StateDim]int{e.g.size - 1, e.g.size - 1, 3, math.MaxInt32}
	for i, s := range state {
		if s != math.Trunc(s) || s < 0 || s > float64(hi[i]) {
			return fmt.Errorf("%s: state %s = %v: want an integer in [0, %d]", ID, names[i], s, hi[i])
		}
		v[i] = int(s)
	}
	if c := e.g.at(v[0], v[1]); c == Wall {
		return fmt.Errorf("%s: state (x, y) = (%d, %d) is a wall cell", ID, v[0], v[1])
	}
	e.x, e.y, e.heading, e.t = v[0], v[1], v[2], v[3]
	if !e.seeded {
		e.pcg.Seed(0, 0x6167656e74)
		e.seeded = true
	}
	c := e.g.at(e.x, e.y)
	e.started, e.done = true, c == Lava || c == Goal
	e.observe()
	return nil
}

// observe writes the observation of the current state into e.obs.
func (e *Env) observe() {
	o := e.obs
	clear(o)
	k, c := e.view, e.view/2
	h := e.heading
	rh := (h + 1) % 4 // the agent's right-hand direction
	for i := range k {
		f := c - i // cells ahead (negative: behind)
		for j := range k {
			r := j - c // cells to the right
			x := e.x + f*dirX[h] + r*dirX[rh]
			y := e.y + f*dirY[h] + r*dirY[rh]
			o[(i*k+j)*NumChannels+int(e.g.at(x, y))] = 1
		}
	}
	p := NumChannels * k * k
	o[p+h] = 1
	dx, dy := e.g.goalX-e.x, e.g.goalY-e.y
	scale := float64(e.g.size - 1)
	o[p+4] = 0.5 + 0.5*float64(dx*dirX[h]+dy*dirY[h])/scale   // > ½: goal ahead, < ½: behind
	o[p+5] = 0.5 + 0.5*float64(dx*dirX[rh]+dy*dirY[rh])/scale // > ½: goal to the right, < ½: left
	o[p+6] = float64(e.x) / scale
	o[p+7] = float64(e.y) / scale
}

// NumChannels is the number of one-hot channels per view cell (empty, wall, lava, goal).
const NumChannels = int(numCells)

// Size is the side of the square grid, border walls included.
func (e *Env) Size() int { return e.g.size }

// CellAt returns the cell at column x, row y (row 0 at the top); outside the grid is
// Wall.
func (e *Env) CellAt(x, y int) Cell { return e.g.at(x, y) }

// Agent returns the agent's cell and heading (0 east, 1 south, 2 west, 3 north).
func (e *Env) Agent() (x, y, heading int) { return e.x, e.y, e.heading }

// Goal returns the goal cell.
func (e *Env) Goal() (x, y int) { return e.g.goalX, e.g.goalY }

// Start returns the layout's start cell (episodes start there unless random_start;
// the registered task sets set random_start).
func (e *Env) Start() (x, y int) { return e.g.startX, e.g.startY }

// Steps is the number of steps taken in the current episode (t in the reward).
func (e *Env) Steps() int { return e.t }

// Horizon is T in the reward 1 − 0.9·t/T.
func (e *Env) Horizon() int { return e.horizon }

// Layout is the layout kind: rooms, maze or lava.
func (e *Env) Layout() string { return e.layout }

// TaskSeed is the seed the layout was generated from.
func (e *Env) TaskSeed() int { return e.taskSeed }

// View is the side of the egocentric view in the observation.
func (e *Env) View() int { return e.view }

// MoveOf returns the move that action a makes under the action permutation.
func (e *Env) MoveOf(a int) Move { return e.perm[a] }

// ActionOf returns the action that makes move m under the action permutation (the
// inverse of MoveOf); experts plan in moves and act through it.
func (e *Env) ActionOf(m Move) int { return e.inv[m] }

// Permutation returns a copy of the action permutation: element a is the move that
// action a makes.
func (e *Env) Permutation() []int {
	p := make([]int, NumMoves)
	for a, m := range e.perm {
		p[a] = int(m)
	}
	return p
}

// String draws the map as text, one row per line: '#' wall, '~' lava, 'G' goal, the
// agent as '>', 'v', '<' or '^' by heading, '.' floor, and floor with wind as 'e',
// 's', 'w' or 'n' by the heading it pushes toward. Tests keep golden maps of the task
// sets with it.
func (e *Env) String() string {
	n := e.g.size
	b := make([]byte, 0, n*(n+1))
	for y := range n {
		for x := range n {
			c := ".#~G"[e.g.at(x, y)]
			if d, ok := e.Wind(x, y); ok {
				c = "eswn"[d]
			}
			if x == e.x && y == e.y && e.started {
				c = ">v<^"[e.heading]
			}
			b = append(b, c)
		}
		b = append(b, '\n')
	}
	return string(b)
}
