package expert

import (
	"fmt"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
)

func init() { Register(gridworld.ID, newGridworld) }

// gridworldExpert follows a shortest path to the goal in the space of the agent's
// states (cell, heading), where turning costs a step like moving does. The
// environment computes the distance of every state to the goal once, by a
// breadth-first search backwards over its own transitions (gridworld.Env.Next, wind
// included), and Act only looks at the three successors of the current state. It
// plans in moves and acts through the environment's action permutation, so it is
// optimal on permuted and windy tasks as well.
type gridworldExpert struct {
	env *gridworld.Env
}

func newGridworld(env envs.Env) (Policy, error) {
	g, ok := envs.As[*gridworld.Env](env)
	if !ok {
		return nil, fmt.Errorf("environment %T is not a *gridworld.Env", envs.Unwrap(env))
	}
	return &gridworldExpert{env: g}, nil
}

func (e *gridworldExpert) Reset() error { return nil }

// Act picks the move whose successor state is one step closer to the goal,
// preferring forward, then left, then right, and writes the action that makes it.
func (e *gridworldExpert) Act(_ []float64, action []float64) error {
	x, y, h := e.env.Agent()
	here := e.env.StepsToGoal(x, y, h)
	if here <= 0 {
		return fmt.Errorf("expert %s: no path to the goal from cell (%d, %d) heading %d", gridworld.ID, x, y, h)
	}
	for _, m := range [...]gridworld.Move{gridworld.Forward, gridworld.TurnLeft, gridworld.TurnRight} {
		nx, ny, nh := e.env.Next(x, y, h, m)
		if e.env.StepsToGoal(nx, ny, nh) == here-1 {
			action[0] = float64(e.env.ActionOf(m))
			return nil
		}
	}
	return fmt.Errorf("expert %s: no successor closer to the goal from (%d, %d) heading %d", gridworld.ID, x, y, h)
}
