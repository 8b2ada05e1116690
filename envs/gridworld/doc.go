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
// # Wind
//
// The option "wind" (east, south, west or north; default none) makes some lines of
// the map windy: a north or south wind blows on the columns listed in
// "wind_columns", an east or west wind on the rows listed in "wind_rows" (interior
// lines, 1 … size−2). After every step, whatever the action, an agent standing on a
// windy floor cell is pushed one cell downwind unless a wall is there, keeping its
// heading (Sutton and Barto's windy gridworld, strength 1): inside a band of wind the
// agent cannot walk upwind, and crossing it drifts downwind. A push can carry the
// agent into lava (the episode ends, reward 0) or onto the goal (success). Entering
// the goal or lava by the move itself ends the episode before any push. The wind is
// deterministic, so Env.Next is the whole transition function and the scripted
// expert plans with it; and it is invisible in the observation (a new channel would
// change the observation's length for every task and every policy), so a policy can
// only infer it from what happens, as it infers a CartPole variant's physics. The
// held-out set uses it as a change of dynamics no pretraining task has.
//
// Env.StepsToGoal is the fewest steps from any state (cell, heading) to the goal
// under these dynamics, by a breadth-first search backwards over Next's transitions;
// with wind some floor states cannot reach the goal at all (a push into lava that no
// move avoids, a corridor that leads only upwind).
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
// Reset(seed) draws the initial heading uniformly from the seed, then the start cell:
// with "random_start: true" uniformly among the floor cells from which the goal can
// be reached (not the goal; no lava on the way), as Minigrid's random agent start
// does; without it, the layout's start cell. With wind, the goal's reachability can
// depend on the heading, so the heading is drawn among those with at least one such
// cell and the cell among those from which the goal can be reached with that
// heading. Reset is deterministic in the seed and Step does not allocate. The state (envs.Stateful) is
// [x, y, heading, t].
//
// Every registered task sets random_start, so a greedy policy meets as many
// different episodes per task as the map has start states (up to about 300), not four.
// The option's default stays false, on purpose: GridWorld-v0 means what it meant
// when datasets were recorded with it (Gymnasium's registry changes the version, not
// the behaviour, of an id), and every recorded episode carries its environment id and
// options, so episodes recorded before replay exactly and new ones say that they
// start at random. The task sets are evarl's benchmark definitions; a task that
// changes meaning changes what its recorded options say.
//
// Options: layout (rooms|maze|lava, default rooms), task_seed (default 0), size (odd,
// 7–63, default 11), view (odd, 3–15, default 7), random_start (default false),
// action_permutation (default [0 1 2]), wind (none|east|south|west|north, default
// none) with wind_columns or wind_rows (lists of interior lines). Invalid values and
// unknown keys are errors that name them.
//
// Coordinates: x is the column (0 at the left), y the row (0 at the top); headings
// 0 east, 1 south, 2 west, 3 north, so turning right adds 1. The accessors Size,
// CellAt, Wind, Agent, Goal and Start are what renderers draw from; Next and
// StepsToGoal are what experts plan with.
//
// # Task sets
//
// "gridworld/pretrain": 36 layouts (task seeds 0–35, cycling rooms, maze, lava).
// "gridworld/heldout": 16 tasks on new layouts: heldout-00 … heldout-11 (task seeds
// 1000–1011; heldout-04 … heldout-11 also permute the actions) and heldout-12 …
// heldout-15, rooms and lava maps with wind over the middle five lines from each
// direction in turn (north, west, south, east). All set random_start.
package gridworld
