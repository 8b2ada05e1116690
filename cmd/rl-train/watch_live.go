package main

import (
	"context"
	"fmt"
	"image"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/render"
)

// livePlayer runs model greedily in task, one episode that resets with seed and is
// conditioned on target, through the shared episode loop, and draws each state as it
// happens.
func livePlayer(model *policy.Model, task envs.Task, target float64, seed int64, scale float64) (render.Player, error) {
	env, err := task.Make()
	if err != nil {
		return render.Player{}, err
	}
	scene, err := render.SceneFor(task.EnvID, env, scale)
	if err != nil {
		return render.Player{}, err
	}
	actor, err := policy.NewActor(model, 1, true, nil)
	if err != nil {
		return render.Player{}, err
	}
	play := func(ctx context.Context, img *image.RGBA, ov *render.Overlay, emit func(*image.RGBA, int) error) error {
		show := func(env envs.Env, f render.Frame) error {
			st, ok := envs.As[envs.Stateful](env)
			if !ok {
				return fmt.Errorf("watch: %s cannot report its state, so it cannot be drawn live", task.EnvID)
			}
			f.State = st.State()
			if err := scene.Draw(img, f); err != nil {
				return fmt.Errorf("watch: %s step %d: %w", task.ID, f.Step, err)
			}
			if ov != nil {
				ov.Draw(img, f)
			}
			return emit(img, f.Step)
		}
		cfg := agents.RolloutConfig{OnStep: func(s agents.StepInfo) error {
			return show(s.Env, render.Frame{LastAction: s.Action, Step: s.Step, Reward: s.Transition.Reward, Return: s.Return})
		}}
		binder := &drawFirst{Actor: actor, show: func(env envs.Env) error { return show(env, render.Frame{}) }}
		return agents.Rollout(ctx, binder, []agents.Quota{{Task: task, Target: target, Episodes: 1, Seed: seed}}, cfg, func(agents.Episode) error { return nil })
	}
	return render.Player{Scene: scene, Play: play}, nil
}

// drawFirst draws the reset state of each episode before the actor begins it.
type drawFirst struct {
	*policy.Actor
	show func(env envs.Env) error
}

// BindEpisode draws the environment as reset.
func (d *drawFirst) BindEpisode(_ int, _ envs.Task, env envs.Env, _ int64) error { return d.show(env) }
