package render

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/replay"
)

// How EpisodeFrames obtains the state behind each frame.
const (
	// SourceStates: the episode recorded the environment's states.
	SourceStates = "recorded states"
	// SourceObservations: the state is a function of the observation, recovered by
	// the scene's SceneSpec.StateFromObs (classic control: CartPole and MountainCar
	// observe their state; Acrobot and Pendulum observe cos/sin of their angles,
	// from which atan2 gives the angles back).
	SourceObservations = "observations"
	// SourceReplay: the environment is rebuilt from the episode's id and options,
	// reset with its seed and stepped with its actions; every observation is checked
	// against the recorded one.
	SourceReplay = "replayed actions"
)

// EpisodeFrames yields the frames of a recorded episode in order, with the scene
// that draws them.
type EpisodeFrames struct {
	// Scene draws the episode's environment.
	Scene Scene
	// Source says where the states come from (SourceStates, SourceObservations or
	// SourceReplay).
	Source string

	ep      *replay.Episode
	env     envs.Env                                     // the bare environment, for SourceReplay
	fromObs func(obs []float32, dst []float64) []float64 // the scene's StateFromObs, for SourceObservations
	t       int
	ret     float64
	state   []float64
	act     []float64
}

// NewEpisodeFrames prepares to draw ep at the given scale. It builds the episode's
// environment from EnvID and Options (for the scene's physics or layout) and picks
// the most direct exact source of states.
func NewEpisodeFrames(ep *replay.Episode, scale float64) (*EpisodeFrames, error) {
	if err := ep.Validate(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	env, err := envs.Make(ep.EnvID, ep.Options)
	if err != nil {
		return nil, fmt.Errorf("render: rebuild the episode's environment: %w", err)
	}
	spec, err := lookupScene(ep.EnvID)
	if err != nil {
		return nil, err
	}
	scene, err := spec.New(env, scale)
	if err != nil {
		return nil, err
	}
	bare := envs.Unwrap(env)
	e := &EpisodeFrames{Scene: scene, ep: ep, env: bare, act: make([]float64, ep.ActDim), fromObs: spec.StateFromObs}
	switch {
	case ep.StateDim > 0:
		e.Source = SourceStates
	case e.fromObs != nil && e.fromObs(ep.Obs(0), nil) != nil:
		e.Source = SourceObservations
	default:
		if _, ok := bare.(envs.Stateful); !ok {
			return nil, fmt.Errorf("render: episode of %s recorded no states, its observations do not determine them and the environment cannot report its state", ep.EnvID)
		}
		e.Source = SourceReplay
	}
	return e, nil
}

// Len is the number of frames: one per observation (steps + 1).
func (e *EpisodeFrames) Len() int { return e.ep.Len() + 1 }

// ErrEnd is returned by Next after the last frame.
var ErrEnd = errors.New("render: no more frames")

// Next returns the next frame; its slices are valid until the following call.
func (e *EpisodeFrames) Next() (Frame, error) {
	t := e.t
	if t > e.ep.Len() {
		return Frame{}, ErrEnd
	}
	f := Frame{Step: t}
	if t > 0 {
		for i, a := range e.ep.Action(t - 1) {
			e.act[i] = float64(a)
		}
		f.LastAction = e.act
		f.Reward = float64(e.ep.Rewards[t-1])
		e.ret += f.Reward
	}
	f.Return = e.ret
	switch e.Source {
	case SourceStates:
		f.State = e.ep.State(t)
	case SourceObservations:
		e.state = e.fromObs(e.ep.Obs(t), e.state)
		if e.state == nil {
			return Frame{}, fmt.Errorf("render: %s step %d: observation of %d values does not give a state", e.ep.EnvID, t, len(e.ep.Obs(t)))
		}
		f.State = e.state
	case SourceReplay:
		s, err := e.replayStep(t)
		if err != nil {
			return Frame{}, err
		}
		f.State = s
	}
	e.t++
	return f, nil
}

// replayStep resets (t = 0) or steps the rebuilt environment and checks the
// observation against the recording.
func (e *EpisodeFrames) replayStep(t int) ([]float64, error) {
	var obs []float64
	if t == 0 {
		o, _, err := e.env.Reset(e.ep.Seed)
		if err != nil {
			return nil, fmt.Errorf("render: replay %s: reset with seed %d: %w", e.ep.EnvID, e.ep.Seed, err)
		}
		obs = o
	} else {
		tr, err := e.env.Step(e.act)
		if err != nil {
			return nil, fmt.Errorf("render: replay %s: step %d: %w", e.ep.EnvID, t-1, err)
		}
		obs = tr.Obs
	}
	want := e.ep.Obs(t)
	if len(obs) != len(want) {
		return nil, fmt.Errorf("render: replay %s: observation has %d values, the episode %d", e.ep.EnvID, len(obs), len(want))
	}
	for i, v := range obs {
		if math.Abs(float64(float32(v))-float64(want[i])) > 1e-6*math.Max(1, math.Abs(v)) {
			return nil, fmt.Errorf("render: replay %s from seed %d diverged from the recording at step %d (observation[%d] = %v, recorded %v): the environment's code or options differ from the recorder's",
				e.ep.EnvID, e.ep.Seed, t, i, v, want[i])
		}
	}
	return e.env.(envs.Stateful).State(), nil
}

// Play draws every remaining frame of e into img (which must be e.Scene.Size() at the
// origin), adds the overlay when ov is non-nil, and hands each picture to emit with
// its step. img is reused for every frame: emit must copy what it keeps. Play stops
// with ctx's error when ctx is done.
func (e *EpisodeFrames) Play(ctx context.Context, img *image.RGBA, ov *Overlay, emit func(img *image.RGBA, step int) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := e.Next()
		if errors.Is(err, ErrEnd) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := e.Scene.Draw(img, f); err != nil {
			return fmt.Errorf("render: %s step %d: %w", e.ep.EnvID, f.Step, err)
		}
		if ov != nil {
			ov.Draw(img, f)
		}
		if err := emit(img, f.Step); err != nil {
			return err
		}
	}
}
