package main

import (
	"context"
	"fmt"
	"image"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/render"
)

// player is what the watch window plays: a scene and a function that draws its
// frames one by one into img and hands each to emit (a recorded episode, or a policy
// acting live).
type player struct {
	scene render.Scene
	play  func(ctx context.Context, img *image.RGBA, ov *render.Overlay, emit func(img *image.RGBA, step int) error) error
}

// livePlayer runs model greedily in a fresh environment of task, one episode that
// resets with seed and is conditioned on target, and draws each state as it happens.
func livePlayer(model *policy.Model, task envs.Task, target float64, seed int64, scale float64) (player, error) {
	env, err := task.Make()
	if err != nil {
		return player{}, err
	}
	stateful, ok := envs.As[envs.Stateful](env)
	if !ok {
		return player{}, fmt.Errorf("watch: %s cannot report its state, so it cannot be drawn live", task.EnvID)
	}
	scene, err := render.SceneFor(env, scale)
	if err != nil {
		return player{}, err
	}
	actor, err := policy.NewActor(model, 1)
	if err != nil {
		return player{}, err
	}
	width := model.Config().Action.Width()
	play := func(ctx context.Context, img *image.RGBA, ov *render.Overlay, emit func(*image.RGBA, int) error) error {
		show := func(f render.Frame) error {
			if err := scene.Draw(img, f); err != nil {
				return fmt.Errorf("watch: %s step %d: %w", task.ID, f.Step, err)
			}
			if ov != nil {
				ov.Draw(img, f)
			}
			return emit(img, f.Step)
		}
		obs, _, err := env.Reset(seed)
		if err != nil {
			return err
		}
		if err := actor.Begin(0, obs, target); err != nil {
			return err
		}
		if err := show(render.Frame{State: stateful.State()}); err != nil {
			return err
		}
		action := make([]float64, width)
		var ret float64
		for step := 1; ; step++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := actor.Act(true, nil, action); err != nil {
				return err
			}
			tr, err := env.Step(action)
			if err != nil {
				return fmt.Errorf("watch: %s step %d: %w", task.ID, step, err)
			}
			ret += tr.Reward
			if err := show(render.Frame{State: stateful.State(), LastAction: action, Step: step, Reward: tr.Reward, Return: ret}); err != nil {
				return err
			}
			if tr.Done() {
				return nil
			}
			actor.Observe(0, tr.Reward, tr.Obs)
		}
	}
	return player{scene: scene, play: play}, nil
}
