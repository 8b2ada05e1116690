package agents

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
)

// Reference holds the returns that anchor normalised scores on a task: a uniformly
// random policy scores 0 and the scripted expert 100, as in D4RL's normalisation.
type Reference struct {
	Random float64 `json:"random_return"`
	Expert float64 `json:"expert_return"`
}

// Normalize maps a return to the 0–100 scale of the reference, or NaN when the
// expert does not beat random (the scale is undefined).
func (r Reference) Normalize(ret float64) float64 {
	if !(r.Expert > r.Random) {
		return math.NaN()
	}
	return 100 * (ret - r.Random) / (r.Expert - r.Random)
}

// ComputeReference measures the random and expert mean returns on task over the same
// episodes and seeds an evaluation uses (episode j resets with seed+j).
func ComputeReference(ctx context.Context, task envs.Task, episodes int, seed int64) (Reference, error) {
	random, err := expertReturn(ctx, task, 1, episodes, seed)
	if err != nil {
		return Reference{}, err
	}
	exp, err := expertReturn(ctx, task, 0, episodes, seed)
	if err != nil {
		return Reference{}, err
	}
	return Reference{Random: random, Expert: exp}, nil
}

// expertReturn is the mean return of the scripted expert at the given noise level.
func expertReturn(ctx context.Context, task envs.Task, noise float64, episodes int, seed int64) (float64, error) {
	env, err := task.Make()
	if err != nil {
		return 0, fmt.Errorf("reference %s: %w", task.ID, err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	pol, err := expert.New(task.EnvID, env, noise, rng)
	if err != nil {
		return 0, fmt.Errorf("reference %s: %w", task.ID, err)
	}
	action := make([]float64, env.ActionSpace().Dim())
	var total float64
	for j := 0; j < episodes; j++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		obs, _, err := env.Reset(seed + int64(j))
		if err != nil {
			return 0, fmt.Errorf("reference %s: %w", task.ID, err)
		}
		if err := pol.Reset(); err != nil {
			return 0, fmt.Errorf("reference %s: %w", task.ID, err)
		}
		for {
			if err := pol.Act(obs, action); err != nil {
				return 0, fmt.Errorf("reference %s: %w", task.ID, err)
			}
			tr, err := env.Step(action)
			if err != nil {
				return 0, fmt.Errorf("reference %s: %w", task.ID, err)
			}
			total += tr.Reward
			if tr.Done() {
				break
			}
			obs = tr.Obs
		}
	}
	return total / float64(episodes), nil
}

// ComputeReferences measures the references of every task (see ComputeReference).
func ComputeReferences(ctx context.Context, tasks []envs.Task, episodes int, seed int64) (map[string]Reference, error) {
	refs := make(map[string]Reference, len(tasks))
	for _, t := range tasks {
		r, err := ComputeReference(ctx, t, episodes, seed)
		if err != nil {
			return nil, err
		}
		refs[t.ID] = r
	}
	return refs, nil
}
