package gridworld

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			envtest.Check(t, func() (envs.Env, error) { return envs.Make(ID, tc.opts) })
		})
	}
}

// fromRows builds an environment on a hand-drawn map ('#' wall, '~' lava, 'G' goal,
// 'S' start, '.' floor), so that dynamics and observations can be checked by hand.
func fromRows(t *testing.T, rows []string, opts envs.Options) *Env {
	t.Helper()
	o := envs.Options{"size": len(rows)}
	for k, v := range opts {
		o[k] = v
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
