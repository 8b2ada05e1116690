// Package expert holds scripted experts for every environment in evarl: controllers
// that know the task (they read the environment's own physics and state, or its map),
// used to collect datasets and as the "expert" end of normalised scores.
//
// An expert acts at a noise level in [0, 1]: with probability noise each action is
// replaced by a uniformly random one, so noise 0 is the expert, noise 1 a random
// policy, and levels in between give "medium" data.
package expert

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/evarl/evarl/envs"
)

// Policy chooses actions for one environment instance.
type Policy interface {
	// Reset is called after every env.Reset, before the first Act of the episode.
	Reset() error
	// Act writes the action for the current state into action (length of the action
	// space's Dim). obs is the observation the environment last returned.
	Act(obs []float64, action []float64) error
}

// Factory builds the noise-free expert for env (the environment as returned by
// envs.Make, wrappers included; use envs.As to reach the concrete type).
type Factory func(env envs.Env) (Policy, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes an expert available for an environment id. For init functions;
// registering an id twice panics.
func Register(envID string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[envID]; dup {
		panic("expert: Register called twice for " + envID)
	}
	factories[envID] = f
}

// New builds the expert for env (registered under envID) acting at the given noise
// level, drawing its random actions from rng.
func New(envID string, env envs.Env, noise float64, rng *rand.Rand) (Policy, error) {
	if !(noise >= 0 && noise <= 1) {
		return nil, fmt.Errorf("expert: noise %v: want a number in [0, 1]", noise)
	}
	mu.RLock()
	f, ok := factories[envID]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("expert: no scripted expert for %q; experts exist for: %s", envID, strings.Join(IDs(), ", "))
	}
	p, err := f(env)
	if err != nil {
		return nil, fmt.Errorf("expert %s: %w", envID, err)
	}
	if noise == 0 {
		return p, nil
	}
	if rng == nil {
		return nil, fmt.Errorf("expert %s: noise %v needs a random source", envID, noise)
	}
	return &noisy{inner: p, space: env.ActionSpace(), noise: noise, rng: rng}, nil
}

// IDs lists the environment ids that have an expert, sorted.
func IDs() []string {
	mu.RLock()
	defer mu.RUnlock()
	ids := make([]string, 0, len(factories))
	for id := range factories {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// noisy replaces the expert's action by a uniform random one with probability noise.
// The expert still acts every step, so stateful experts keep their bookkeeping.
type noisy struct {
	inner Policy
	space envs.Space
	noise float64
	rng   *rand.Rand
}

func (n *noisy) Reset() error { return n.inner.Reset() }

func (n *noisy) Act(obs, action []float64) error {
	if err := n.inner.Act(obs, action); err != nil {
		return err
	}
	if n.rng.Float64() >= n.noise {
		return nil
	}
	return SampleUniform(n.space, n.rng, action)
}

// SampleUniform draws a uniform random action from space into action: a uniform
// integer for Discrete, a uniform point for a bounded Box.
func SampleUniform(space envs.Space, rng *rand.Rand, action []float64) error {
	switch s := space.(type) {
	case envs.Discrete:
		action[0] = float64(rng.IntN(s.N))
	case envs.Box:
		for i := range action {
			lo, hi := s.Low[i], s.High[i]
			if lo < -1e30 || hi > 1e30 {
				return fmt.Errorf("expert: cannot sample uniformly from unbounded %v", s)
			}
			action[i] = lo + (hi-lo)*rng.Float64()
		}
	default:
		return fmt.Errorf("expert: unsupported action space %v", space)
	}
	return nil
}

// Has reports whether an expert is registered for the environment id.
func Has(envID string) bool {
	mu.RLock()
	defer mu.RUnlock()
	_, ok := factories[envID]
	return ok
}
