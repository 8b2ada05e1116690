package agents

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// ActionSpaceOf converts an environment's action space into the policy's: Discrete(N)
// becomes N categorical actions, a bounded Box a continuous space with its bounds. An
// unbounded Box is an error: the policy's tanh heads need finite bounds.
func ActionSpaceOf(space envs.Space) (policy.ActionSpace, error) {
	switch s := space.(type) {
	case envs.Discrete:
		return policy.ActionSpace{Discrete: s.N}, nil
	case envs.Box:
		a := policy.ActionSpace{Dim: s.Dim()}
		for i := range s.Low {
			if math.IsInf(s.Low[i], 0) || math.IsInf(s.High[i], 0) {
				return a, fmt.Errorf("action space %v is unbounded in dimension %d; the policy needs finite bounds", s, i)
			}
			a.Low = append(a.Low, float32(s.Low[i]))
			a.High = append(a.High, float32(s.High[i]))
		}
		return a, nil
	}
	return policy.ActionSpace{}, fmt.Errorf("unsupported action space %v", space)
}

// CheckCompatible reports whether a policy can act in env: the same observation size
// and the same action space — for a continuous space the same dimension and an
// environment box that contains the policy's. The policy's tanh heads keep every
// action inside its own box, so those actions are valid in a wider box (a held-out
// task with more torque, say); the policy just does not use the extra range.
func CheckCompatible(cfg policy.Config, env envs.Env, envID string) error {
	if d := env.ObservationSpace().Dim(); d != cfg.StateDim {
		return fmt.Errorf("environment %s has observations of %d values, the policy expects %d", envID, d, cfg.StateDim)
	}
	a, err := ActionSpaceOf(env.ActionSpace())
	if err != nil {
		return fmt.Errorf("environment %s: %w", envID, err)
	}
	same := a.Discrete == cfg.Action.Discrete && a.Dim == cfg.Action.Dim &&
		len(a.Low) == len(cfg.Action.Low) && len(a.High) == len(cfg.Action.High)
	for i := 0; same && i < len(a.Low); i++ {
		same = a.Low[i] <= cfg.Action.Low[i] && a.High[i] >= cfg.Action.High[i]
	}
	if !same {
		return fmt.Errorf("environment %s has action space %v, the policy was built for %+v (a continuous space must contain the policy's bounds)", envID, env.ActionSpace(), cfg.Action)
	}
	return nil
}

// LongestEpisode is the number of steps of the longest of eps. A policy whose
// MaxEpisodeLen is smaller gives every later step its last timestep embedding (see
// package policy), which pretraining and fine-tuning warn about.
func LongestEpisode(eps []*replay.Episode) int {
	n := 0
	for _, ep := range eps {
		n = max(n, ep.Len())
	}
	return n
}

// CheckEpisodes reports whether episodes fit a policy of config cfg, at load time
// rather than at a random training step: the observation and action sizes, every
// discrete action an integer in [0, N), finite observations, actions and rewards.
// Errors name the episode by its file and index in it when it was read from one
// (replay.Episode.Where), and the step.
func CheckEpisodes(cfg policy.Config, eps []*replay.Episode) error {
	for _, ep := range eps {
		if ep.ObsDim != cfg.StateDim || ep.ActDim != cfg.Action.Width() {
			return fmt.Errorf("%s (%s): %w: observations of %d values and actions of %d, the policy expects %d and %d",
				ep.Where(), ep.EnvID, replay.ErrDims, ep.ObsDim, ep.ActDim, cfg.StateDim, cfg.Action.Width())
		}
		for j, a := range ep.Actions {
			v := float64(a)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s step %d: action %v", ep.Where(), j/ep.ActDim, v)
			}
			if n := cfg.Action.Discrete; cfg.Action.IsDiscrete() && (v != math.Trunc(v) || v < 0 || v >= float64(n)) {
				return fmt.Errorf("%s step %d: discrete action %v, the policy has actions 0 to %d", ep.Where(), j, a, n-1)
			}
		}
		for j, o := range ep.Observations {
			if v := float64(o); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s step %d: observation value %v", ep.Where(), j/ep.ObsDim, v)
			}
		}
		for j, r := range ep.Rewards {
			if v := float64(r); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s step %d: reward %v", ep.Where(), j, v)
			}
		}
	}
	return nil
}
