package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// evaSection configures the EVA pass of method eva.
type evaSection struct {
	eva.Config      `yaml:",inline"`
	Source          string  `yaml:"source"`            // rollouts (the pretrained policy acting in the target tasks) or dataset (windows of the fine-tuning data)
	RolloutEpisodes int     `yaml:"rollout_episodes"`  // episodes per task for the rollout source
	RolloutTarget   float64 `yaml:"rollout_target"`    // target return the policy is conditioned on during rollouts (NaN: the first eval target)
	RolloutMaxSteps int     `yaml:"rollout_max_steps"` // cut rollouts after this many steps (0: the task's time limit); EVA needs the states the policy visits, not whole failed episodes
	Batch           int     `yaml:"batch"`             // context windows per EVA minibatch
	State           string  `yaml:"state"`             // load this saved EVA state instead of computing one ("" computes and saves it in run_dir)
}

// evaState loads the configured EVA state or computes one from the configured source.
func evaState(ctx context.Context, a *app, cfg finetuneConfig, model *policy.Model, tasks []envs.Task, eps []*replay.Episode, rng *rand.Rand) (*eva.State, error) {
	if cfg.EVA.State != "" {
		st, err := eva.Load(cfg.EVA.State)
		if err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
		return st, nil
	}
	source := eps
	if cfg.EVA.Source == "rollouts" {
		target := cfg.EVA.RolloutTarget
		if math.IsNaN(target) {
			target = cfg.Eval.Targets[0]
		}
		source = nil
		for i, t := range tasks {
			opts := t.Options.Clone()
			if cfg.EVA.RolloutMaxSteps > 0 {
				opts[envs.MaxStepsOption] = cfg.EVA.RolloutMaxSteps
			}
			vec, err := envs.MakeVector(t.EnvID, opts, min(cfg.EVA.RolloutEpisodes, cfg.Eval.NumEnvs), 0)
			if err != nil {
				return nil, err
			}
			got, err := eva.Rollouts(ctx, model, vec, t.EnvID, target, cfg.EVA.RolloutEpisodes, cfg.Eval.Seed+int64(100000*(i+1)), false, rng)
			vec.Close()
			if err != nil {
				return nil, fmt.Errorf("finetune: eva rollouts on %s: %w", t.ID, err)
			}
			source = append(source, got...)
		}
	}
	forward, err := eva.WindowSource(model, source, cfg.EVA.Batch, rng)
	if err != nil {
		return nil, err
	}
	state, err := eva.Compute(ctx, model, cfg.LoRA, cfg.EVA.Config, forward, a.log)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if err := state.Save(filepath.Join(cfg.RunDir, "eva_state.safetensors")); err != nil {
		return nil, err
	}
	return state, nil
}
