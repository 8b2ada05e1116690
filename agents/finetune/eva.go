package finetune

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// ComputeEVA runs the EVA pass for adapters loraCfg on model (before adapters are
// attached) with activations from cfg.Source: rollouts of the model itself in the
// tasks, conditioned on cfg.RolloutTarget (NaN: target), windows of data, or both.
// Rollouts reset with seeds from the training stream (agents.ExplorationRange),
// never with validation or test seeds. Every random draw comes from seed's "eva"
// stream, and the pass's own (svd: lowrank) from its "eva-pass" stream. It is the
// pass `rl-train eva` runs and method eva runs in New.
func ComputeEVA(ctx context.Context, model *policy.Model, tasks []envs.Task, data []*replay.Episode, loraCfg lora.Config,
	cfg EVAConfig, target float64, seed agents.Seed, log logrus.FieldLogger) (*eva.State, EVATiming, error) {
	var tm EVATiming
	if err := cfg.Validate(); err != nil {
		return nil, tm, fmt.Errorf("finetune: %w", err)
	}
	// Before the rollouts: the targets must exist and the minibatches fit in memory
	// with this model.
	computed := cfg
	computed.State = "" // this is the pass that computes it
	if err := CheckAdapters(model, Config{Method: MethodEVA, LoRA: loraCfg, EVA: computed}); err != nil {
		return nil, tm, fmt.Errorf("finetune: %w", err)
	}
	rng, _ := seed.Stream("eva")
	var source []*replay.Episode
	if cfg.Source != SourceRollouts {
		source = append(source, OnlyTasks(data, tasks)...)
		if len(source) == 0 {
			return nil, tm, fmt.Errorf("finetune: eva.source %s: the data holds no episode of the tasks %v", cfg.Source, taskIDs(tasks))
		}
	}
	if cfg.Source != SourceDataset {
		if !math.IsNaN(cfg.RolloutTarget) {
			target = cfg.RolloutTarget
		}
		start := time.Now()
		eps, err := EVARollouts(ctx, model, tasks, cfg, target, rng)
		if err != nil {
			return nil, tm, err
		}
		tm.RolloutSeconds = time.Since(start).Seconds()
		source = append(source, eps...)
	}
	start := time.Now()
	forward, err := windowForward(model, source, cfg.Batch, rng)
	if err != nil {
		return nil, tm, err
	}
	// The pass's own streams (svd: lowrank) start from a stream of their own, so
	// they never shift the rollouts' and windows' draws.
	passRng, _ := seed.Stream("eva-pass")
	st, err := eva.Compute(ctx, model, loraCfg, cfg.Config, forward, eva.Options{Seed: passRng.Uint64(), Log: log})
	if err != nil {
		return nil, tm, fmt.Errorf("finetune: %w", err)
	}
	tm.PassSeconds = time.Since(start).Seconds()
	return st, tm, nil
}

// EVATiming is where the wall time of ComputeEVA went, so that a run can report
// the acting it did for EVA apart from the pass itself.
type EVATiming struct {
	// RolloutSeconds is the policy acting in the tasks to produce the rollouts
	// (0 with source: dataset).
	RolloutSeconds float64 `json:"eva_rollout_seconds"`
	// PassSeconds is the capture, the PCA, convergence and redistribution.
	PassSeconds float64 `json:"eva_pass_seconds"`
}

// EVARollouts runs model in each task for cfg.RolloutEpisodes episodes, cut at
// cfg.RolloutMaxSteps steps, conditioned on target, with sampled actions unless
// cfg.RolloutGreedy, on cfg.NumEnvs environments; episode resets draw their seeds
// from the exploration range with rng.
func EVARollouts(ctx context.Context, model *policy.Model, tasks []envs.Task, cfg EVAConfig, target float64, rng *rand.Rand) ([]*replay.Episode, error) {
	quotas := make([]agents.Quota, len(tasks))
	span := agents.ExplorationRange()
	for i, t := range tasks {
		if cfg.RolloutMaxSteps > 0 {
			t.Options = t.Options.Clone()
			if t.Options == nil {
				t.Options = envs.Options{}
			}
			t.Options[envs.MaxStepsOption] = cfg.RolloutMaxSteps
		}
		quotas[i] = agents.Quota{Task: t, Target: target, Episodes: cfg.RolloutEpisodes,
			Seed: span.First + rng.Int64N(span.Count-int64(cfg.RolloutEpisodes))}
	}
	n := min(cfg.NumEnvs, len(tasks)*cfg.RolloutEpisodes)
	actor, err := policy.NewActor(model, n, cfg.RolloutGreedy, rng)
	if err != nil {
		return nil, fmt.Errorf("finetune: eva rollouts: %w", err)
	}
	wasTrain := model.Training()
	model.SetTrain(false)
	defer model.SetTrain(wasTrain)
	out := make([]*replay.Episode, 0, len(tasks)*cfg.RolloutEpisodes)
	err = agents.Rollout(ctx, actor, quotas, agents.RolloutConfig{Record: true, Source: "eva rollout"}, func(ep agents.Episode) error {
		out = append(out, ep.Recording)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finetune: eva rollouts: %w", err)
	}
	return out, nil
}

// windowForward returns an eva.Forward that runs model (dropout off) on batch
// windows drawn from episodes with rng, as training draws them: trajectories in
// proportion to their length, left padding with a mask, which the model passes to
// the layers' observers so that padding rows never enter the PCA.
func windowForward(model *policy.Model, episodes []*replay.Episode, batch int, rng *rand.Rand) (eva.Forward, error) {
	s, err := replay.NewSampler(episodes)
	if err != nil {
		return nil, fmt.Errorf("finetune: eva activation source: %w", err)
	}
	b := policy.NewBatch(model.Config(), batch)
	return func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.Sample(rng, b); err != nil {
			return err
		}
		wasTrain := model.Training()
		model.SetTrain(false)
		defer model.SetTrain(wasTrain)
		return model.Forward(b)
	}, nil
}
