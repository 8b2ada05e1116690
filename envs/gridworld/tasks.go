package gridworld

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
)

// Sizes of the registered task sets.
const (
	NumPretrain = 36
	NumHeldout  = 12
)

// heldoutSeedBase offsets the held-out task seeds so that no held-out layout is a
// pretraining layout.
const heldoutSeedBase = 1000

// heldoutPermutations are the action permutations of the held-out tasks, one per
// task (nil: unpermuted). Four tasks keep the usual actions and differ only by their
// new layouts; the others also swap or rotate what the actions do.
var heldoutPermutations = [NumHeldout][]int{
	nil, nil, nil, nil,
	{1, 0, 2}, {0, 2, 1}, {2, 1, 0}, {1, 2, 0},
	{2, 0, 1}, {1, 0, 2}, {2, 1, 0}, {1, 2, 0},
}

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
// maze and lava, with task seeds 0 … NumPretrain−1 and the usual actions.
func PretrainTasks() envs.TaskSet {
	set := envs.TaskSet{Family: "gridworld", Name: "pretrain"}
	for i := range NumPretrain {
		set.Tasks = append(set.Tasks, envs.Task{
			ID:      fmt.Sprintf("gridworld/pretrain-%02d", i),
			EnvID:   ID,
			Options: envs.Options{"layout": Layouts[i%len(Layouts)], "task_seed": i},
		})
	}
	return set
}

// HeldoutTasks is "gridworld/heldout": NumHeldout new layouts (task seeds from 1000),
// of which eight also permute the actions.
func HeldoutTasks() envs.TaskSet {
	set := envs.TaskSet{Family: "gridworld", Name: "heldout"}
	for i := range NumHeldout {
		opts := envs.Options{"layout": Layouts[i%len(Layouts)], "task_seed": heldoutSeedBase + i}
		if p := heldoutPermutations[i]; p != nil {
			opts["action_permutation"] = append([]int(nil), p...)
		}
		set.Tasks = append(set.Tasks, envs.Task{
			ID:      fmt.Sprintf("gridworld/heldout-%02d", i),
			EnvID:   ID,
			Options: opts,
		})
	}
	return set
}
