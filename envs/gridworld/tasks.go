package gridworld

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
)

// Sizes of the registered task sets.
const (
	NumPretrain = 36
	NumHeldout  = 16
)

// numPermuted is the number of held-out tasks that change the layout and maybe the
// actions (heldout-00 … heldout-11); the windy ones follow them.
const numPermuted = 12

// heldoutSeedBase offsets the held-out task seeds so that no held-out layout is a
// pretraining layout.
const heldoutSeedBase = 1000

// heldoutPermutations are the action permutations of the held-out tasks, one per
// task (nil: unpermuted). Four tasks keep the usual actions and differ only by their
// new layouts; the others also swap or rotate what the actions do.
var heldoutPermutations = [numPermuted][]int{
	nil, nil, nil, nil,
	{1, 0, 2}, {0, 2, 1}, {2, 1, 0}, {1, 2, 0},
	{2, 0, 1}, {1, 0, 2}, {2, 1, 0}, {1, 2, 0},
}

// heldoutWinds are the held-out tasks with wind (heldout-12 … heldout-15): new
// layouts with the usual actions, where a wind over the middle five lines pushes the
// agent one cell per step, each task from another direction. The layouts were chosen
// (among rooms and lava maps) so that the goal stays reachable from every floor state
// while a policy that ignores the wind fails: the wind-free shortest-path plan,
// replanned at every step, reaches the goal in 16–49 % of episodes (mazes were left
// out: their corridors mostly turn wind into one-way passages that the same plan
// still gets through).
var heldoutWinds = []struct {
	layout   string
	taskSeed int
	wind     string
	key      string // wind_columns or wind_rows
}{
	{LayoutRooms, 1012, "north", "wind_columns"},
	{LayoutLava, 1014, "west", "wind_rows"},
	{LayoutRooms, 1017, "south", "wind_columns"},
	{LayoutRooms, 1016, "east", "wind_rows"},
}

// windLines are the columns or rows the held-out winds blow on: the middle five of
// the default size's nine interior lines.
var windLines = []int{3, 4, 5, 6, 7}

func init() {
	envs.Register(envs.Spec{
		ID:              ID,
		Family:          "gridworld",
		MaxEpisodeSteps: DefaultMaxSteps,
		RewardThreshold: math.NaN(), // success is Info.Success, not a return
		Description:     "procedurally generated gridworld (rooms, maze, lava); reach the goal",
		New: func(opts envs.Options) (envs.Env, error) {
			e, err := New(opts)
			if err != nil {
				return nil, err
			}
			return e, nil
		},
	})
	envs.RegisterTaskSet(PretrainTasks())
	envs.RegisterTaskSet(HeldoutTasks())
}

// PretrainTasks is "gridworld/pretrain": NumPretrain layouts cycling through rooms,
// maze and lava, with task seeds 0 … NumPretrain−1 and the usual actions. Every
// task sets random_start (see the package doc for why the option's default stays
// false).
func PretrainTasks() envs.TaskSet {
	set := envs.TaskSet{Family: "gridworld", Name: "pretrain"}
	for i := range NumPretrain {
		set.Tasks = append(set.Tasks, envs.Task{
			ID:      fmt.Sprintf("gridworld/pretrain-%02d", i),
			EnvID:   ID,
			Options: envs.Options{"layout": Layouts[i%len(Layouts)], "task_seed": i, "random_start": true},
		})
	}
	return set
}

// HeldoutTasks is "gridworld/heldout": NumHeldout new layouts (task seeds from
// 1000), all with random_start. heldout-00 … heldout-11 cycle through rooms, maze and
// lava, and eight of them permute the actions; heldout-12 … heldout-15 add wind, a
// change of the dynamics that no pretraining task has.
func HeldoutTasks() envs.TaskSet {
	set := envs.TaskSet{Family: "gridworld", Name: "heldout"}
	for i := range NumHeldout {
		var opts envs.Options
		if i < numPermuted {
			opts = envs.Options{"layout": Layouts[i%len(Layouts)], "task_seed": heldoutSeedBase + i, "random_start": true}
			if p := heldoutPermutations[i]; p != nil {
				opts["action_permutation"] = append([]int(nil), p...)
			}
		} else {
			w := heldoutWinds[i-numPermuted]
			opts = envs.Options{"layout": w.layout, "task_seed": w.taskSeed, "random_start": true,
				"wind": w.wind, w.key: append([]int(nil), windLines...)}
		}
		set.Tasks = append(set.Tasks, envs.Task{
			ID:      fmt.Sprintf("gridworld/heldout-%02d", i),
			EnvID:   ID,
			Options: opts,
		})
	}
	return set
}
