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
	s, err := replay.NewSampler(episodes, replay.SamplerConfig{ReturnScale: 1, MaxTimestep: cfg.MaxEpisodeLen - 1}, replay.IdentityNorm(cfg.StateDim))
	if err != nil {
		return nil, fmt.Errorf("eva: activation source: %w", err)
	}
	rb := replay.NewBatch(batch, cfg.Context, cfg.StateDim, cfg.Action.Width())
	pb := policy.NewBatch(cfg, batch)
	return func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.Sample(rng, rb); err != nil {
			return err
		}
		copy(pb.States, rb.States)
		copy(pb.Actions, rb.Actions)
		copy(pb.Returns, rb.RTG)
		copy(pb.Timesteps, rb.Timesteps)
		for i, v := range rb.Mask {
			pb.Mask[i] = v != 0
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
	obs, err := vec.Reset(seed)
	if err != nil {
		return nil, fmt.Errorf("eva: rollouts: %w", err)
	}
	type history struct {
		states, actions, rtg []float32
		steps                int
		ep                   *replay.Episode
	}
	hs := make([]history, N)
	start := func(i int, o []float64) {
		hs[i] = history{ep: &replay.Episode{EnvID: envID, ObsDim: S, ActDim: A, Source: "eva rollout", Seed: envs.NoSeed}}
		hs[i].rtg = append(hs[i].rtg, float32(targetReturn))
		hs[i].states = appendF32(hs[i].states, o)
	}
	for i := 0; i < N; i++ {
		start(i, obs[i*S:(i+1)*S])
		if seed != envs.NoSeed {
			hs[i].ep.Seed = seed + int64(i)
		}
	}
	K := cfg.Context
	bt := policy.NewBatch(cfg, N)
	act32 := make([]float32, N*A)
	act64 := make([]float64, N*A)
	var done []*replay.Episode
	for len(done) < n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Windows of the last K steps, left-padded; the current step is last and its
		// action is unknown (ignored by the model).
		for i := range hs {
			h := &hs[i]
			T := h.steps + 1
			for k := 0; k < K; k++ {
				t := T - K + k // step index in the episode
				j := i*K + k
				bt.Mask[j] = t >= 0
				if t < 0 {
					continue
				}
				bt.Returns[j] = h.rtg[t]
				bt.Timesteps[j] = t
				copy(bt.States[j*S:(j+1)*S], h.states[t*S:(t+1)*S])
				if t < h.steps {
					copy(bt.Actions[j*A:(j+1)*A], h.actions[t*A:(t+1)*A])
				} else {
					clear(bt.Actions[j*A : (j+1)*A])
				}
			}
		}
		if err := m.Act(bt, greedy, rng, act32); err != nil {
			return nil, fmt.Errorf("eva: rollouts: %w", err)
		}
		for i, v := range act32 {
			act64[i] = float64(v)
		}
		st, err := vec.Step(act64)
		if err != nil {
			return nil, fmt.Errorf("eva: rollouts: %w", err)
		}
		for i := range hs {
			h := &hs[i]
			r := st.Rewards[i]
			h.actions = append(h.actions, act32[i*A:(i+1)*A]...)
			h.ep.Rewards = append(h.ep.Rewards, float32(r))
			h.steps++
			h.ep.Success = h.ep.Success || st.Infos[i].Success
			if st.Terminated[i] || st.Truncated[i] {
				h.ep.Observations = appendF32(h.states, st.FinalObs[i*S:(i+1)*S])
				h.ep.Actions = h.actions
				h.ep.Terminated, h.ep.Truncated = st.Terminated[i], st.Truncated[i]
				done = append(done, h.ep)
				start(i, st.Obs[i*S:(i+1)*S])
				continue
			}
			h.rtg = append(h.rtg, h.rtg[len(h.rtg)-1]-float32(r))
			h.states = appendF32(h.states, st.Obs[i*S:(i+1)*S])
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
