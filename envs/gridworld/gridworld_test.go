package gridworld

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/envtest"
)

var update = flag.Bool("update", false, "rewrite testdata/layouts.golden")

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts envs.Options
	}{
		{"defaults", nil},
		{"maze", envs.Options{"layout": "maze", "task_seed": 3}},
		{"lava-small", envs.Options{"layout": "lava", "task_seed": 4, "size": 9, "view": 5}},
		{"rooms-permuted-random-start", envs.Options{"layout": "rooms", "task_seed": 5, "random_start": true, "action_permutation": []int{2, 0, 1}}},
		{"rooms-wind", envs.Options{"layout": "rooms", "task_seed": 1012, "random_start": true, "wind": "north", "wind_columns": []int{3, 4, 5, 6, 7}}},
		{"lava-wind-fixed-start", envs.Options{"layout": "lava", "task_seed": 1014, "wind": "west", "wind_rows": []int{3, 4, 5, 6, 7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			envtest.Check(t, func() (envs.Env, error) { return envs.Make(ID, tc.opts) })
		})
	}
}

// fromRows builds an environment on a hand-drawn map ('#' wall, '~' lava, 'G' goal,
// 'S' start, '.' floor), so that dynamics and observations can be checked by hand.
// The wind options, if any, apply to the hand-drawn map.
func fromRows(t *testing.T, rows []string, opts envs.Options) *Env {
	t.Helper()
	o := envs.Options{"size": len(rows)}
	windOpts := envs.Options{}
	for k, v := range opts {
		if strings.HasPrefix(k, "wind") {
			windOpts[k] = v
		} else {
			o[k] = v
		}
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g := &grid{size: len(rows), cells: make([]Cell, len(rows)*len(rows))}
	for y, row := range rows {
		for x, c := range row {
			switch c {
			case '#':
				g.set(x, y, Wall)
			case '~':
				g.set(x, y, Lava)
			case 'G':
				g.set(x, y, Goal)
				g.goalX, g.goalY = x, y
			case 'S':
				g.startX, g.startY = x, y
			}
		}
	}
	e.g = g
	r := envs.NewOptionReader(ID, windOpts)
	w := readWindOptions(r)
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if e.windDir, e.wind, err = w.build(len(rows)); err != nil {
		t.Fatal(err)
	}
	// Hand maps may leave the goal unreachable from the start (handMap does, to test
	// dynamics only): then Reset cannot be used, but StepsToGoal and SetState can.
	_ = e.findStarts()
	return e
}

var handMap = []string{
	"#######",
	"#S....#",
	"#.###.#",
	"#.~G#.#",
	"#.###.#",
	"#.....#",
	"#######",
}

func TestDynamicsByHand(t *testing.T) {
	e := fromRows(t, handMap, nil)
	e.SetHorizon(100)
	type step struct {
		action           int
		x, y, heading, t int
		reward           float64
		terminated, succ bool
	}
	cases := []struct {
		name  string
		start []float64
		steps []step
	}{
		{"wall-then-move", []float64{1, 1, 3, 0}, []step{
			{2, 1, 1, 3, 1, 0, false, false}, // forward into the top wall: no move
			{1, 1, 1, 0, 2, 0, false, false}, // right: north → east
			{2, 2, 1, 0, 3, 0, false, false},
			{0, 2, 1, 3, 4, 0, false, false}, // left: east → north
			{0, 2, 1, 2, 5, 0, false, false}, // left: north → west
			{2, 1, 1, 2, 6, 0, false, false},
		}},
		{"lava", []float64{1, 3, 0, 9}, []step{
			{2, 2, 3, 0, 10, 0, true, false}, // lava at (2,3): terminated, reward 0
		}},
		{"on-goal", []float64{3, 3, 0, 0}, nil}, // standing on the goal: episode over
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := e.SetState(c.start); err != nil {
				t.Fatal(err)
			}
			for i, s := range c.steps {
				tr, err := e.Step([]float64{float64(s.action)})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				x, y, h := e.Agent()
				if x != s.x || y != s.y || h != s.heading || e.Steps() != s.t {
					t.Fatalf("step %d: got (x, y, heading, t) = (%d, %d, %d, %d), want (%d, %d, %d, %d)", i, x, y, h, e.Steps(), s.x, s.y, s.heading, s.t)
				}
				if tr.Reward != s.reward || tr.Terminated != s.terminated || tr.Info.Success != s.succ {
					t.Fatalf("step %d: got reward %v terminated %v success %v, want %v %v %v", i, tr.Reward, tr.Terminated, tr.Info.Success, s.reward, s.terminated, s.succ)
				}
			}
			if c.steps == nil {
				if _, err := e.Step([]float64{2}); !errors.Is(err, envs.ErrEpisodeOver) {
					t.Fatalf("Step on the goal cell: err = %v, want ErrEpisodeOver", err)
				}
			}
		})
	}
}

func TestGoalReward(t *testing.T) {
	// A 7×7 open room with the goal two cells east of the start.
	rows := []string{"#######", "#.....#", "#.S.G.#", "#.....#", "#.....#", "#.....#", "#######"}
	for _, tc := range []struct {
		horizon, t0 int
		want        float64
	}{
		{100, 0, 1 - 0.9*2.0/100},
		{484, 40, 1 - 0.9*42.0/484},
	} {
		e := fromRows(t, rows, nil)
		e.SetHorizon(tc.horizon)
		if err := e.SetState([]float64{2, 2, 0, float64(tc.t0)}); err != nil {
			t.Fatal(err)
		}
		var tr envs.Transition
		for range 2 {
			var err error
			if tr, err = e.Step([]float64{2}); err != nil {
				t.Fatal(err)
			}
		}
		if !tr.Terminated || !tr.Info.Success || math.Abs(tr.Reward-tc.want) > 1e-15 {
			t.Errorf("T=%d t0=%d: got %+v, want terminated, success, reward %v", tc.horizon, tc.t0, tr, tc.want)
		}
	}
}

func TestHorizonFromTimeLimit(t *testing.T) {
	env, err := envs.Make(ID, envs.Options{"max_episode_steps": 50})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := envs.As[*Env](env)
	if g.Horizon() != 50 {
		t.Errorf("Horizon() = %d after max_episode_steps 50, want 50", g.Horizon())
	}
	env, _ = envs.Make(ID, nil)
	g, _ = envs.As[*Env](env)
	if g.Horizon() != DefaultMaxSteps {
		t.Errorf("Horizon() = %d with the registered limit, want %d", g.Horizon(), DefaultMaxSteps)
	}
}

func TestPermutation(t *testing.T) {
	// action_permutation [2 0 1]: action 0 moves forward, 1 turns left, 2 turns right.
	e := fromRows(t, handMap, envs.Options{"action_permutation": []any{2, 0, 1}})
	if err := e.SetState([]float64{1, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	want := [][3]int{{2, 1, 0}, {2, 1, 3}, {2, 1, 0}}
	for i, a := range []int{0, 1, 2} {
		if _, err := e.Step([]float64{float64(a)}); err != nil {
			t.Fatal(err)
		}
		x, y, h := e.Agent()
		if got := [3]int{x, y, h}; got != want[i] {
			t.Errorf("action %d: (x, y, heading) = %v, want %v", a, got, want[i])
		}
	}
	for m := range Move(NumMoves) {
		if e.MoveOf(e.ActionOf(m)) != m {
			t.Errorf("MoveOf(ActionOf(%v)) = %v", m, e.MoveOf(e.ActionOf(m)))
		}
	}
}

func TestObservationByHand(t *testing.T) {
	e := fromRows(t, handMap, envs.Options{"view": 3})
	// Agent at (1,3) facing east: ahead is lava (2,3); its left (north) is (1,2), its
	// right (south) is (1,4); behind is the wall (0,3).
	if err := e.SetState([]float64{1, 3, 0, 0}); err != nil {
		t.Fatal(err)
	}
	// View rows: farthest ahead first; columns: left to right in the agent's frame.
	// row 0 (1 ahead, x=2): left (2,2)=wall, centre (2,3)=lava, right (2,4)=wall
	// row 1 (x=1):          left (1,2)=empty, centre (1,3)=empty, right (1,4)=empty
	// row 2 (1 behind, x=0): walls
	wantCells := []Cell{Wall, Lava, Wall, Empty, Empty, Empty, Wall, Wall, Wall}
	obs := e.obs
	for i, c := range wantCells {
		for ch := range NumChannels {
			want := 0.0
			if Cell(ch) == c {
				want = 1
			}
			if got := obs[i*NumChannels+ch]; got != want {
				t.Errorf("view cell %d channel %v = %v, want %v", i, Cell(ch), got, want)
			}
		}
	}
	p := NumChannels * 9
	// heading east; goal (3,3) is 2 ahead, 0 right; position (1,3); scale 6.
	want := []float64{1, 0, 0, 0, 0.5 + 1.0/6, 0.5, 1.0 / 6, 3.0 / 6}
	for i, w := range want {
		if math.Abs(obs[p+i]-w) > 1e-15 {
			t.Errorf("obs[%d] = %v, want %v", p+i, obs[p+i], w)
		}
	}
	if len(obs) != e.ObservationSpace().Dim() || len(obs) != p+8 {
		t.Errorf("len(obs) = %d, space Dim %d, want %d", len(obs), e.ObservationSpace().Dim(), p+8)
	}
	// Facing north from (5,5): right is east; ahead (5,4) empty; right (6,4) wall.
	if err := e.SetState([]float64{5, 5, 3, 0}); err != nil {
		t.Fatal(err)
	}
	if obs[(0*3+2)*NumChannels+int(Wall)] != 1 || obs[(0*3+1)*NumChannels+int(Empty)] != 1 || obs[(0*3+0)*NumChannels+int(Wall)] != 1 {
		t.Errorf("facing north at (5,5): first view row %v, want wall, empty, wall", obs[:3*NumChannels])
	}
	// goal (3,3) from (5,5) facing north: 2 ahead, 2 to the left.
	if math.Abs(obs[p+4]-(0.5+1.0/6)) > 1e-15 || math.Abs(obs[p+5]-(0.5-1.0/6)) > 1e-15 {
		t.Errorf("goal offset = (%v, %v), want (%v, %v)", obs[p+4], obs[p+5], 0.5+1.0/6, 0.5-1.0/6)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts envs.Options
		want string
	}{
		{envs.Options{"layout": "castle"}, `"layout" = castle`},
		{envs.Options{"size": 10}, "odd"},
		{envs.Options{"size": 5}, `"size" = 5`},
		{envs.Options{"view": 4}, "odd"},
		{envs.Options{"task_seed": -1}, `"task_seed"`},
		{envs.Options{"task_seed": 1.5}, `"task_seed"`},
		{envs.Options{"action_permutation": []int{0, 1}}, "permutation"},
		{envs.Options{"action_permutation": []int{0, 0, 1}}, "permutation"},
		{envs.Options{"action_permutation": []int{0, 1, 3}}, "permutation"},
		{envs.Options{"action_permutation": "012"}, "list of integers"},
		{envs.Options{"random_start": 1}, "true or false"},
		{envs.Options{"wind": "up"}, `"wind" = up: want one of none, east, south, west, north`},
		{envs.Options{"wind": "north"}, `wind north needs option "wind_columns"`},
		{envs.Options{"wind": "east"}, `wind east needs option "wind_rows"`},
		{envs.Options{"wind": "north", "wind_columns": []int{}}, `needs option "wind_columns"`},
		{envs.Options{"wind": "north", "wind_rows": []int{3}}, `option "wind_rows" with wind north`},
		{envs.Options{"wind": "west", "wind_columns": []int{3}, "wind_rows": []int{3}}, `option "wind_columns" with wind west`},
		{envs.Options{"wind_columns": []int{3}}, `without "wind"`},
		{envs.Options{"wind": "none", "wind_rows": []int{3}}, `without "wind"`},
		{envs.Options{"wind": "south", "wind_columns": []int{0}}, "distinct interior lines in [1, 9]"},
		{envs.Options{"wind": "south", "wind_columns": []int{10}}, "distinct interior lines in [1, 9]"},
		{envs.Options{"wind": "south", "wind_columns": []int{4, 4}}, "distinct interior lines"},
		{envs.Options{"wind": "south", "wind_columns": "4"}, "list of integers"},
		{envs.Options{"wind": 1}, `"wind" = 1: want a string`},
		{envs.Options{"colour": "red"}, "unknown option"},
	} {
		if _, err := envs.Make(ID, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Make(%v): err = %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
	e, _ := New(nil)
	for _, s := range [][]float64{{0, 0, 0, 0}, {1, 1, 4, 0}, {1.5, 1, 0, 0}, {1, 1, 0, -1}, {99, 1, 0, 0}} {
		if err := e.SetState(s); err == nil {
			t.Errorf("SetState(%v): no error", s)
		}
	}
}

// TestLayouts checks every task's map against structural facts computed
// independently of the generator, and against the golden maps in testdata (which
// pin the layouts: changing them silently would invalidate recorded datasets).
func TestLayouts(t *testing.T) {
	var b strings.Builder
	for _, set := range []envs.TaskSet{PretrainTasks(), HeldoutTasks()} {
		for _, task := range set.Tasks {
			env, err := New(task.Options)
			if err != nil {
				t.Fatalf("%s: %v", task.ID, err)
			}
			checkLayout(t, task.ID, env)
			env.started = false // draw the map without the agent
			sx, sy := env.Start()
			fmt.Fprintf(&b, "%s start (%d,%d)\n%s", task.ID, sx, sy, env.String())
		}
	}
	path := filepath.Join("testdata", "layouts.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("layouts differ from %s; if the change is intended, run go test -update", path)
	}
}

func checkLayout(t *testing.T, id string, e *Env) {
	t.Helper()
	n := e.Size()
	open := func(x, y int) bool { c := e.CellAt(x, y); return c != Wall && c != Lava }
	goals, cells, edges := 0, 0, 0
	for y := range n {
		for x := range n {
			c := e.CellAt(x, y)
			if (x == 0 || y == 0 || x == n-1 || y == n-1) && c != Wall {
				t.Errorf("%s: border cell (%d,%d) is %v", id, x, y, c)
			}
			if c == Goal {
				goals++
			}
			if open(x, y) {
				cells++
				if open(x+1, y) {
					edges++
				}
				if open(x, y+1) {
					edges++
				}
			}
		}
	}
	gx, gy := e.Goal()
	sx, sy := e.Start()
	if goals != 1 || e.CellAt(gx, gy) != Goal {
		t.Errorf("%s: %d goal cells, Goal() = (%d,%d)", id, goals, gx, gy)
	}
	if e.CellAt(sx, sy) != Empty {
		t.Errorf("%s: start (%d,%d) is %v", id, sx, sy, e.CellAt(sx, sy))
	}
	// Flood fill from the start (a second, independent search).
	seen := map[[2]int]bool{{sx, sy}: true}
	stack := [][2]int{{sx, sy}}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			q := [2]int{p[0] + d[0], p[1] + d[1]}
			if open(q[0], q[1]) && !seen[q] {
				seen[q] = true
				stack = append(stack, q)
			}
		}
	}
	if !seen[[2]int{gx, gy}] {
		t.Errorf("%s: goal unreachable from start", id)
	}
	// A perfect maze is a tree: connected, with one edge fewer than cells.
	if e.Layout() == LayoutMaze && (len(seen) != cells || edges != cells-1) {
		t.Errorf("%s: maze has %d open cells (%d reachable) and %d edges; a perfect maze has cells−1 edges", id, cells, len(seen), edges)
	}
}

func TestTaskSets(t *testing.T) {
	pre, err := envs.LookupTaskSet("gridworld/pretrain")
	if err != nil {
		t.Fatal(err)
	}
	held, err := envs.LookupTaskSet("gridworld/heldout")
	if err != nil {
		t.Fatal(err)
	}
	if len(pre.Tasks) < 32 || len(held.Tasks) < 8 {
		t.Fatalf("%d pretrain and %d held-out tasks, want ≥ 32 and ≥ 8", len(pre.Tasks), len(held.Tasks))
	}
	maps := map[string]string{}
	kinds := map[string]int{}
	for _, task := range pre.Tasks {
		e, err := New(task.Options)
		if err != nil {
			t.Fatal(err)
		}
		e.started = false
		maps[e.String()] = task.ID
		kinds[e.Layout()]++
	}
	if len(kinds) != 3 {
		t.Errorf("pretrain layout kinds %v, want rooms, maze and lava", kinds)
	}
	permuted := 0
	for _, task := range held.Tasks {
		e, err := New(task.Options)
		if err != nil {
			t.Fatal(err)
		}
		e.started = false
		if id, dup := maps[e.String()]; dup {
			t.Errorf("%s has the same map as %s", task.ID, id)
		}
		if p := e.Permutation(); p[0] != 0 || p[1] != 1 || p[2] != 2 {
			permuted++
		}
	}
	if permuted == 0 || permuted == len(held.Tasks) {
		t.Errorf("%d of %d held-out tasks permute actions; want some but not all", permuted, len(held.Tasks))
	}
}

func BenchmarkStep(b *testing.B) {
	for _, layout := range Layouts {
		b.Run(layout, func(b *testing.B) {
			env, err := envs.Make(ID, envs.Options{"layout": layout, "task_seed": 1})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := env.Reset(0); err != nil {
				b.Fatal(err)
			}
			var act [1]float64
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				act[0] = float64(i * 7 % 5 % 3) // a fixed, non-trivial action pattern
				tr, err := env.Step(act[:])
				if err != nil {
					b.Fatal(err)
				}
				if tr.Done() {
					env.Reset(envs.NoSeed)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

// TestGenerateManySizes runs the generator over sizes and seeds beyond the task sets:
// it must always find a valid layout, deterministically.
func TestGenerateManySizes(t *testing.T) {
	for _, size := range []int{7, 9, 13, 21, 31} {
		for _, layout := range Layouts {
			for seed := range 40 {
				opts := envs.Options{"layout": layout, "size": size, "task_seed": seed}
				a, err := New(opts)
				if err != nil {
					t.Fatalf("%v: %v", opts, err)
				}
				id := fmt.Sprintf("%s/size=%d/seed=%d", layout, size, seed)
				checkLayout(t, id, a)
				b, _ := New(opts)
				if a.String() != b.String() {
					t.Fatalf("%s: two generations differ", id)
				}
			}
		}
	}
}

// windMap is a 7×7 room with lava at (2,5) and the goal at (5,4), for the wind's
// transitions worked out by hand.
var windMap = []string{
	"#######",
	"#.....#",
	"#.....#",
	"#.....#",
	"#....G#",
	"#.~...#",
	"#######",
}

func TestWindByHand(t *testing.T) {
	type step struct {
		action           int // 0 left, 1 right, 2 forward
		x, y, heading    int
		reward           float64
		terminated, succ bool
	}
	north := envs.Options{"wind": "north", "wind_columns": []int{3, 4}}
	cases := []struct {
		name  string
		wind  envs.Options
		start []float64
		steps []step
	}{
		{"north: pushed after entering", north, []float64{2, 2, 0, 0}, []step{
			{2, 3, 1, 0, 0, false, false}, // forward to (3,2), pushed north to (3,1)
			{0, 3, 1, 3, 0, false, false}, // turn left in place; the push hits the top wall
			{2, 3, 1, 3, 0, false, false}, // forward into the wall, push into the wall: no move
		}},
		{"north: no progress against the wind", north, []float64{3, 2, 1, 0}, []step{
			{2, 3, 2, 1, 0, false, false}, // forward south to (3,3), pushed back to (3,2)
			{2, 3, 2, 1, 0, false, false},
		}},
		{"north: crossing drifts", north, []float64{1, 4, 0, 0}, []step{
			{2, 2, 4, 0, 0, false, false}, // (2,4) has no wind
			{2, 3, 3, 0, 0, false, false}, // (3,4) → pushed to (3,3)
			{2, 4, 2, 0, 0, false, false}, // (4,3) → pushed to (4,2)
			{2, 5, 2, 0, 0, false, false}, // (5,2) has no wind
		}},
		{"north: entering the goal ends before any push", north, []float64{4, 4, 0, 0}, []step{
			{2, 5, 4, 0, 1 - 0.9*1/100.0, true, true},
		}},
		{"south: a turn is pushed into lava", envs.Options{"wind": "south", "wind_columns": []int{2}}, []float64{2, 3, 0, 0}, []step{
			{1, 2, 4, 1, 0, false, false}, // turn right at (2,3), pushed to (2,4)
			{0, 2, 5, 0, 0, true, false},  // turn left at (2,4), pushed into the lava at (2,5)
		}},
		{"east: pushed onto the goal", envs.Options{"wind": "east", "wind_rows": []int{4}}, []float64{3, 4, 3, 0}, []step{
			{1, 4, 4, 0, 0, false, false},             // turn right at (3,4), pushed to (4,4)
			{1, 5, 4, 1, 1 - 0.9*2/100.0, true, true}, // turn right at (4,4), pushed onto the goal
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := fromRows(t, windMap, c.wind)
			e.SetHorizon(100)
			if err := e.SetState(c.start); err != nil {
				t.Fatal(err)
			}
			for i, s := range c.steps {
				tr, err := e.Step([]float64{float64(s.action)})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				x, y, h := e.Agent()
				if x != s.x || y != s.y || h != s.heading || e.Steps() != i+1 {
					t.Fatalf("step %d: got (x, y, heading, t) = (%d, %d, %d, %d), want (%d, %d, %d, %d)", i, x, y, h, e.Steps(), s.x, s.y, s.heading, i+1)
				}
				if math.Abs(tr.Reward-s.reward) > 1e-15 || tr.Terminated != s.terminated || tr.Info.Success != s.succ {
					t.Fatalf("step %d: got reward %v terminated %v success %v, want %v %v %v", i, tr.Reward, tr.Terminated, tr.Info.Success, s.reward, s.terminated, s.succ)
				}
			}
		})
	}
}

// TestStepsToGoalByHand checks the distance table against shortest paths worked out
// by hand on windMap, including states the wind makes hopeless.
func TestStepsToGoalByHand(t *testing.T) {
	for _, c := range []struct {
		name          string
		wind          envs.Options
		x, y, heading int
		want          int
	}{
		// Without wind: four cells east.
		{"calm", nil, 1, 4, 0, 4},
		// North wind on columns 3–4: crossing from row 4 comes out at (5,2) (see
		// TestWindByHand), then turn south and walk two cells: 4 + 1 + 2. Going round
		// through row 5 takes 9.
		{"north", envs.Options{"wind": "north", "wind_columns": []int{3, 4}}, 1, 4, 0, 7},
		{"north, on the goal", envs.Options{"wind": "north", "wind_columns": []int{3, 4}}, 5, 4, 2, 0},
		// South wind on column 2 over the lava at (2,5): at (2,4) facing east, walk
		// three cells to the goal; facing south or north every move ends in the lava
		// (a turn is pushed into it, forward south enters it, forward north is pushed
		// back to (2,4) facing north).
		{"south, facing east", envs.Options{"wind": "south", "wind_columns": []int{2}}, 2, 4, 0, 3},
		{"south, facing south", envs.Options{"wind": "south", "wind_columns": []int{2}}, 2, 4, 1, -1},
		{"south, facing north", envs.Options{"wind": "south", "wind_columns": []int{2}}, 2, 4, 3, -1},
		{"walls and lava", nil, 0, 0, 0, -1},
		{"lava", nil, 2, 5, 0, -1},
	} {
		e := fromRows(t, windMap, c.wind)
		if got := e.StepsToGoal(c.x, c.y, c.heading); got != c.want {
			t.Errorf("%s: StepsToGoal(%d, %d, %d) = %d, want %d", c.name, c.x, c.y, c.heading, got, c.want)
		}
	}
	// With random starts the hopeless states are never drawn.
	e := fromRows(t, windMap, envs.Options{"random_start": true, "wind": "south", "wind_columns": []int{2}})
	for seed := range int64(500) {
		if _, _, err := e.Reset(seed); err != nil {
			t.Fatal(err)
		}
		x, y, h := e.Agent()
		if e.StepsToGoal(x, y, h) <= 0 {
			t.Fatalf("seed %d: started at (%d, %d) heading %d, from which the goal cannot be reached", seed, x, y, h)
		}
	}
}

// TestRandomStarts checks, on every registered task, that resets start from the
// states the task promises: floor cells from which the goal is reachable (by an
// independent flood fill on wind-free tasks), never the goal, every such state
// eventually, each heading about a quarter of the time, and the same state for the
// same seed.
func TestRandomStarts(t *testing.T) {
	const seeds = 2000
	for _, set := range []envs.TaskSet{PretrainTasks(), HeldoutTasks()} {
		for _, task := range set.Tasks {
			if task.Options["random_start"] != true {
				t.Errorf("%s: random_start is not set", task.ID)
				continue
			}
			e, err := New(task.Options)
			if err != nil {
				t.Fatal(err)
			}
			_, windy := task.Options["wind"]
			connected := floodFromGoal(e)
			valid := 0
			for y := range e.Size() {
				for x := range e.Size() {
					for h := range 4 {
						if e.CellAt(x, y) == Empty && e.StepsToGoal(x, y, h) > 0 {
							valid++
							if !windy && !connected[[2]int{x, y}] {
								t.Errorf("%s: StepsToGoal(%d, %d, %d) > 0 but the flood fill does not reach the cell", task.ID, x, y, h)
							}
						} else if !windy && e.CellAt(x, y) == Empty && connected[[2]int{x, y}] {
							t.Errorf("%s: cell (%d, %d) is connected to the goal but StepsToGoal(…, %d) = %d", task.ID, x, y, h, e.StepsToGoal(x, y, h))
						}
					}
				}
			}
			seen := map[[3]int]int{}
			var headings [4]int
			for seed := range int64(seeds) {
				obs, _, err := e.Reset(seed)
				if err != nil {
					t.Fatal(err)
				}
				first := append([]float64(nil), obs...)
				x, y, h := e.Agent()
				if e.CellAt(x, y) != Empty || e.StepsToGoal(x, y, h) <= 0 {
					t.Fatalf("%s seed %d: start (%d, %d, %d) is %v with StepsToGoal %d", task.ID, seed, x, y, h, e.CellAt(x, y), e.StepsToGoal(x, y, h))
				}
				seen[[3]int{x, y, h}]++
				headings[h]++
				obs, _, _ = e.Reset(seed)
				if x2, y2, h2 := e.Agent(); x2 != x || y2 != y || h2 != h || !slices.Equal(obs, first) {
					t.Fatalf("%s seed %d: a second reset started at (%d, %d, %d), the first at (%d, %d, %d)", task.ID, seed, x2, y2, h2, x, y, h)
				}
			}
			// 2000 draws over at most 4·81 states leave each one unseen with
			// probability < e^(−2000/324) ≈ 0.2 %: allow a few.
			if len(seen) < valid-valid/20 {
				t.Errorf("%s: %d distinct starts of %d valid states in %d resets", task.ID, len(seen), valid, seeds)
			}
			if !windy {
				for h, n := range headings {
					// Binomial(2000, ¼): mean 500, sd 19.4; ±100 is beyond 5 sd.
					if n < seeds/4-100 || n > seeds/4+100 {
						t.Errorf("%s: heading %d drawn %d times in %d resets, want about %d", task.ID, h, n, seeds, seeds/4)
					}
				}
			}
		}
	}
}

// floodFromGoal returns the cells connected to the goal through floor cells (no
// wall, no lava), by a depth-first flood fill written independently of the
// environment's searches.
func floodFromGoal(e *Env) map[[2]int]bool {
	gx, gy := e.Goal()
	seen := map[[2]int]bool{}
	stack := [][2]int{{gx, gy}}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			q := [2]int{p[0] + d[0], p[1] + d[1]}
			if c := e.CellAt(q[0], q[1]); c == Empty && !seen[q] {
				seen[q] = true
				stack = append(stack, q)
			}
		}
	}
	return seen
}

// TestWindAccessors checks Wind and WindDirection on a held-out
// windy task: every floor cell of the windy columns reports the wind, no other does.
func TestWindAccessors(t *testing.T) {
	e, err := New(envs.Options{"layout": "rooms", "task_seed": 1012, "wind": "north", "wind_columns": []int{3, 5}, "random_start": true})
	if err != nil {
		t.Fatal(err)
	}
	if e.WindDirection() != 3 {
		t.Errorf("WindDirection() = %d, want 3 (north)", e.WindDirection())
	}
	for y := range e.Size() {
		for x := range e.Size() {
			d, ok := e.Wind(x, y)
			want := (x == 3 || x == 5) && e.CellAt(x, y) == Empty
			if ok != want || ok && d != 3 {
				t.Errorf("Wind(%d, %d) = %d, %v on a %v cell, want wind %v", x, y, d, ok, e.CellAt(x, y), want)
			}
		}
	}
	calm, _ := New(nil)
	if _, ok := calm.Wind(3, 3); ok || calm.WindDirection() != -1 {
		t.Error("a task without wind reports wind")
	}
}
