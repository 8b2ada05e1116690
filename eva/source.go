package eva

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// WindowSource returns a Forward that runs m (in evaluation mode: no dropout) on
// batch windows of m's context drawn from episodes with rng, as fine-tuning draws
// them (trajectories in proportion to their length, left padding with a mask). It
// never runs out: Config.MaxBatches bounds the pass. It is the activation source for
// a target-task dataset, and for rollouts once they are collected.
func WindowSource(m *policy.Model, episodes []*replay.Episode, batch int, rng *rand.Rand) (Forward, error) {
	cfg := m.Config()
	if batch < 1 {
		return nil, fmt.Errorf("eva: window source batch %d: want ≥ 1", batch)
	}
	if rng == nil {
		return nil, fmt.Errorf("eva: window source needs a random source")
	}
	if len(episodes) == 0 {
		return nil, fmt.Errorf("eva: the activation source has no episodes")
	}
	ep := episodes[0]
	if ep.ObsDim != cfg.StateDim || ep.ActDim != cfg.Action.Width() {
		return nil, fmt.Errorf("eva: episodes of %s have observation size %d and action size %d; the policy expects %d and %d",
			ep.EnvID, ep.ObsDim, ep.ActDim, cfg.StateDim, cfg.Action.Width())
	}
	// Raw states and returns: the policy normalises and scales them itself.
	s, err := replay.NewSampler(episodes)
	if err != nil {
		return nil, fmt.Errorf("eva: activation source: %w", err)
	}
	pb := policy.NewBatch(cfg, batch)
	return func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.Sample(rng, pb); err != nil {
			return err
		}
		wasTrain := m.Training()
		m.SetTrain(false)
		defer m.SetTrain(wasTrain)
		return m.Forward(pb)
	}, nil
}

// Rollouts runs the policy (as it is: call it before attaching adapters) in the
// vector environment, conditioned on targetReturn as a Decision Transformer is at
// evaluation (the return-to-go starts at the target and each reward is subtracted),
// until n episodes have finished, and returns them. Actions are sampled with rng
// unless greedy. envID names the episodes. This is EVA's default activation source:
// the pretrained policy's own behaviour on the new task.
func Rollouts(ctx context.Context, m *policy.Model, vec *envs.Vector, envID string, targetReturn float64, n int, seed int64, greedy bool, rng *rand.Rand) ([]*replay.Episode, error) {
	cfg := m.Config()
	N, S, A := vec.Len(), cfg.StateDim, cfg.Action.Width()
	if vec.ObsDim() != S || vec.ActDim() != A {
		return nil, fmt.Errorf("eva: %s has observation size %d and action size %d; the policy expects %d and %d", envID, vec.ObsDim(), vec.ActDim(), S, A)
	}
	if n < 1 {
		return nil, fmt.Errorf("eva: rollouts of %d episodes: want ≥ 1", n)
	}
	actor, err := policy.NewActor(m, N, greedy, rng)
	if err != nil {
		return nil, fmt.Errorf("eva: rollouts: %w", err)
	}
	obs, err := vec.Reset(seed)
	if err != nil {
		return nil, fmt.Errorf("eva: rollouts: %w", err)
	}
	eps := make([]*replay.Episode, N)
	start := func(i int, o []float64, epSeed int64) error {
		eps[i] = &replay.Episode{EnvID: envID, ObsDim: S, ActDim: A, Source: "eva rollout", Seed: epSeed}
		eps[i].Observations = appendF32(eps[i].Observations, o)
		return actor.Begin(i, o, targetReturn)
	}
	for i := 0; i < N; i++ {
		epSeed := envs.NoSeed
		if seed != envs.NoSeed {
			epSeed = seed + int64(i)
		}
		if err := start(i, obs[i*S:(i+1)*S], epSeed); err != nil {
			return nil, fmt.Errorf("eva: rollouts: %w", err)
		}
	}
	actions := make([]float64, N*A)
	var done []*replay.Episode
	for len(done) < n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := actor.Act(actions); err != nil {
			return nil, fmt.Errorf("eva: rollouts: %w", err)
		}
		st, err := vec.Step(actions)
		if err != nil {
			return nil, fmt.Errorf("eva: rollouts: %w", err)
		}
		for i, ep := range eps {
			r := st.Rewards[i]
			ep.Actions = appendF32(ep.Actions, actions[i*A:(i+1)*A])
			ep.Rewards = append(ep.Rewards, float32(r))
			ep.Success = ep.Success || st.Infos[i].Success
			if st.Terminated[i] || st.Truncated[i] {
				ep.Observations = appendF32(ep.Observations, st.FinalObs[i*S:(i+1)*S])
				ep.Terminated, ep.Truncated = st.Terminated[i], st.Truncated[i]
				done = append(done, ep)
				if err := start(i, st.Obs[i*S:(i+1)*S], envs.NoSeed); err != nil {
					return nil, fmt.Errorf("eva: rollouts: %w", err)
				}
				continue
			}
			ep.Observations = appendF32(ep.Observations, st.Obs[i*S:(i+1)*S])
			actor.Observe(i, r, st.Obs[i*S:(i+1)*S])
		}
	}
	return done[:n], nil
}

func appendF32(dst []float32, src []float64) []float32 {
	for _, v := range src {
		dst = append(dst, float32(v))
	}
	return dst
}
