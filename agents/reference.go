package agents

import (
	"context"
	"fmt"
	"math"

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
// episodes and seeds an evaluation uses (episode j resets with seed+j): the scripted
// expert at noise 1 (uniformly random actions) and at noise 0.
func ComputeReference(ctx context.Context, task envs.Task, episodes int, seed int64) (Reference, error) {
	var out [2]float64
	for k, noise := range []float64{1, 0} {
		actor, err := expert.NewActor(1, noise, uint64(seed))
		if err != nil {
			return Reference{}, fmt.Errorf("reference %s: %w", task.ID, err)
		}
		var total float64
		q := []Quota{{Task: task, Episodes: episodes, Seed: seed}}
		err = Rollout(ctx, actor, q, RolloutConfig{}, func(ep Episode) error {
			total += ep.Return
			return nil
		})
		if err != nil {
			return Reference{}, fmt.Errorf("reference %s: %w", task.ID, err)
		}
		out[k] = total / float64(episodes)
	}
	return Reference{Random: out[0], Expert: out[1]}, nil
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
