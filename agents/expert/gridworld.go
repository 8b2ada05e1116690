package expert

import (
	"fmt"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

func init() { Register(gridworld.ID, newGridworld) }

// gridworldExpert follows a shortest path to the goal in the space of the agent's
// states (cell, heading), where turning costs a step like moving does. The distance
// of every state to the goal is computed once per environment by a breadth-first
// search backwards from the goal, so Act only looks at the three successors of the
// current state. It plans in moves and acts through the environment's action
// permutation, so it is optimal on permuted tasks as well.
type gridworldExpert struct {
	env  *gridworld.Env
	dist []int32 // dist[(y*size+x)*4+heading]: steps to the goal, −1 if unreachable
}

func newGridworld(env envs.Env) (Policy, error) {
	g, ok := envs.As[*gridworld.Env](env)
	if !ok {
		return nil, fmt.Errorf("environment %T is not a *gridworld.Env", envs.Unwrap(env))
	}
	return &gridworldExpert{env: g, dist: gridworldDistances(g)}, nil
}

// gridworldDistances returns, for every state (x, y, heading) of env, the number of
// steps of the shortest action sequence that reaches the goal without entering lava
// (−1 when there is none), indexed (y*size+x)*4+heading. The episode of an optimal
// agent started in state s has exactly dist[s] steps.
func gridworldDistances(env *gridworld.Env) []int32 {
	n := env.Size()
	idx := func(x, y, h int) int { return (y*n+x)*4 + h }
	dist := make([]int32, n*n*4)
	for i := range dist {
		dist[i] = -1
	}
	dx := [4]int{1, 0, -1, 0}
	dy := [4]int{0, 1, 0, -1}
	passable := func(x, y int) bool { c := env.CellAt(x, y); return c == gridworld.Empty }
	gx, gy := env.Goal()
	queue := make([]int, 0, n*n*4)
	for h := range 4 {
		dist[idx(gx, gy, h)] = 0
		queue = append(queue, idx(gx, gy, h))
	}
	for head := 0; head < len(queue); head++ {
		s := queue[head]
		x, y, h := (s/4)%n, (s/4)/n, s%4
		d := dist[s] + 1
		var preds [3]int
		k := 0
		// Forward from the cell behind, with the same heading, lands here.
		if px, py := x-dx[h], y-dy[h]; passable(px, py) {
			preds[k] = idx(px, py, h)
			k++
		}
		// Turning in place: only from cells the agent can stand on without the
		// episode ending (not the goal, not lava).
		if passable(x, y) {
			preds[k] = idx(x, y, (h+1)%4) // turning left from h+1 gives h
			preds[k+1] = idx(x, y, (h+3)%4)
			k += 2
		}
		for _, p := range preds[:k] {
			if dist[p] < 0 {
				dist[p] = d
				queue = append(queue, p)
			}
		}
	}
	return dist
}

func (e *gridworldExpert) Reset() error { return nil }

// Act picks the move whose successor state is one step closer to the goal,
// preferring forward, then left, then right, and writes the action that makes it.
func (e *gridworldExpert) Act(_ []float64, action []float64) error {
	n := e.env.Size()
	x, y, h := e.env.Agent()
	here := e.dist[(y*n+x)*4+h]
	if here <= 0 {
		return fmt.Errorf("expert %s: no path to the goal from cell (%d, %d) heading %d", gridworld.ID, x, y, h)
	}
	dx := [4]int{1, 0, -1, 0}
	dy := [4]int{0, 1, 0, -1}
	next := [gridworld.NumMoves]int{}
	next[gridworld.Forward] = ((y+dy[h])*n+x+dx[h])*4 + h
	next[gridworld.TurnLeft] = (y*n+x)*4 + (h+3)%4
	next[gridworld.TurnRight] = (y*n+x)*4 + (h+1)%4
	for _, m := range [...]gridworld.Move{gridworld.Forward, gridworld.TurnLeft, gridworld.TurnRight} {
		if e.dist[next[m]] == here-1 {
			action[0] = float64(e.env.ActionOf(m))
			return nil
		}
	}
	return fmt.Errorf("expert %s: distance table has no successor closer to the goal from (%d, %d) heading %d", gridworld.ID, x, y, h)
}
