package expert

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/evarl/evarl/envs"
)

// Actor runs the scripted experts in n environment slots at once, so that the
// shared episode loop (agents.Rollout) drives them exactly as it drives a Decision
// Transformer: it implements agents.Actor and agents.EpisodeBinder. Each slot builds
// the expert of the environment it is bound to (experts read their environment's
// physics or map), at the actor's noise level.
//
// Noise: with probability noise an action is replaced by a uniform random one. The
// random stream of an episode is seeded from the actor's seed, the task and the
// episode's reset seed, so an episode's actions do not depend on which slot ran it
// or on how many slots there are.
type Actor struct {
	// Workers is the number of goroutines Act spreads the slots over (0: one per
	// CPU; 1: the caller's goroutine). Each slot's expert and random stream belong
	// to one goroutine per call, so the actions do not depend on it.
	Workers int

	noise float64
	seed  uint64
	slots []actorSlot
	width int
}

type actorSlot struct {
	env     envs.Env // the environment the expert was built for
	policy  Policy
	rng     *rand.Rand
	src     *rand.PCG
	obs     []float64 // the observation to act on (a copy)
	running bool
}

// NewActor returns an expert actor of n slots acting at the given noise level in
// [0, 1]; seed seeds the noise.
func NewActor(n int, noise float64, seed uint64) (*Actor, error) {
	if n <= 0 {
		return nil, fmt.Errorf("expert: actor for %d environments: want at least 1", n)
	}
	if !(noise >= 0 && noise <= 1) {
		return nil, fmt.Errorf("expert: noise %v: want a number in [0, 1]", noise)
	}
	a := &Actor{noise: noise, seed: seed, slots: make([]actorSlot, n), width: -1}
	for i := range a.slots {
		a.slots[i].src = rand.NewPCG(0, 0)
		a.slots[i].rng = rand.New(a.slots[i].src)
	}
	return a, nil
}

// Len is the number of slots.
func (a *Actor) Len() int { return len(a.slots) }

// BindEpisode builds (or keeps) slot i's expert for env and seeds its noise for the
// episode that resets with seed.
func (a *Actor) BindEpisode(i int, task envs.Task, env envs.Env, seed int64) error {
	s := &a.slots[i]
	h := fnv.New64a()
	h.Write([]byte(task.ID))
	s.src.Seed(a.seed, h.Sum64()^uint64(seed))
	if s.env != env || s.policy == nil {
		p, err := New(task.EnvID, env, a.noise, s.rng)
		if err != nil {
			return err
		}
		s.env, s.policy = env, p
		w := env.ActionSpace().Dim()
		if a.width >= 0 && w != a.width {
			return fmt.Errorf("expert: actor: %s takes actions of %d values, other slots %d", task.ID, w, a.width)
		}
		a.width = w
	}
	return nil
}

// Begin starts slot i's episode; the expert must have been bound to it.
func (a *Actor) Begin(i int, obs []float64, _ float64) error {
	s := &a.slots[i]
	if s.policy == nil {
		return fmt.Errorf("expert: actor: slot %d began an episode without an environment (BindEpisode first)", i)
	}
	if err := s.policy.Reset(); err != nil {
		return fmt.Errorf("expert reset: %w", err)
	}
	s.obs = append(s.obs[:0], obs...)
	s.running = true
	return nil
}

// Observe keeps the observation slot i acts on next.
func (a *Actor) Observe(i int, _ float64, obs []float64) {
	s := &a.slots[i]
	s.obs = append(s.obs[:0], obs...)
}

// End marks slot i idle.
func (a *Actor) End(i int) { a.slots[i].running = false }

// Act writes every running slot's expert action into actions.
func (a *Actor) Act(actions []float64) error {
	if a.width < 0 || len(actions) != len(a.slots)*a.width {
		return fmt.Errorf("expert: actor: actions buffer of %d values for %d slots of width %d", len(actions), len(a.slots), a.width)
	}
	workers := a.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(a.slots))
	act := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			s := &a.slots[i]
			if !s.running {
				continue
			}
			if err := s.policy.Act(s.obs, actions[i*a.width:(i+1)*a.width]); err != nil {
				return fmt.Errorf("expert: slot %d: %w", i, err)
			}
		}
		return nil
	}
	if workers <= 1 {
		return act(0, len(a.slots))
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(a.slots)/workers, (w+1)*len(a.slots)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = act(lo, hi)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
