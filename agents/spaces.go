package agents

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
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
