// Package gridworld is evarl's procedurally generated gridworld family, registered as
// GridWorld-v0 (family "gridworld"), in the spirit of Minigrid: a square grid with
// border walls, an agent with a position and a heading, and a goal cell.
//
// # Layouts
//
// The options "layout" and "task_seed" fix the map; the same pair always gives the
// same map. Layouts:
//
//   - rooms: the interior divided by a vertical wall, a horizontal wall or both, with
//     a door in each wall segment (with four rooms, half of the layouts leave one
//     door out);
//   - maze: a perfect maze carved by randomized depth-first search on the odd
//     coordinates;
//   - lava: an open room crossed by one to three lava strips, each with one gap; the
//     start and the goal are on opposite sides.
//
// Generation checks by breadth-first search that the goal is reachable from the start
// without crossing lava and at least size/2 moves away, and otherwise draws the next
// attempt from the same random stream, so it stays deterministic.
//
// # Actions
//
// Discrete(3), Minigrid's first three actions: 0 turn left, 1 turn right, 2 move
// forward (a wall in front leaves the agent in place; lava and goal are entered). The
// option "action_permutation" (a permutation of [0 1 2]) changes what each action
// does: action a makes move action_permutation[a]. The held-out task set uses it as a
// variation of the dynamics that a policy can only handle by adapting.
//
// # Observation
//
// A Box of 4·view² + 8 values in [0, 1] (204 for the default view 7), the same length
// for every layout and size:
//
//   - [0, 4·view²): the egocentric view, a view×view window centred on the agent and
//     rotated so that the agent faces up (row 0 is farthest ahead, column 0 farthest
//     left), each cell one-hot over (empty, wall, lava, goal); cells outside the grid
//     are walls. Index (row·view + col)·4 + channel.
//   - 4·view² + [0, 4): the heading one-hot (east, south, west, north);
//   - then the goal's offset in the agent's frame, ½ + ½·(ahead, right) / (size − 1)
//     (ahead and right positive; ½ means level with the agent);
//   - then the agent's position (x, y) / (size − 1).
//
// # Reward, termination, randomness
//
// Entering the goal terminates with reward 1 − 0.9·t/T (t the steps taken, T the
// time limit: Minigrid's reward) and Info.Success; entering lava terminates with
// reward 0; every other step gives 0. The registered time limit is Minigrid's 4·size²
// for the default size (484); the option max_episode_steps overrides it, and the time
// limit tells the environment T through envs.Horizoned.
//
// Reset(seed) draws the initial heading uniformly from the seed; the start cell is the
// layout's, or with "random_start: true" a uniformly random cell from which the goal
// is reachable. The state (envs.Stateful) is [x, y, heading, t].
//
// Options: layout (rooms|maze|lava, default rooms), task_seed (default 0), size (odd,
// 7–63, default 11), view (odd, 3–15, default 7), random_start (default false),
// action_permutation (default [0 1 2]).
//
// Coordinates: x is the column (0 at the left), y the row (0 at the top); headings
// 0 east, 1 south, 2 west, 3 north, so turning right adds 1. The accessors Size,
// CellAt, Agent, Goal and Start are what renderers draw from.
package gridworld
