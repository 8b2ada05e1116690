package policy

import (
	"fmt"
	"math/rand/v2"
)

// Actor runs a Decision Transformer in N environments at once (a vector env). It keeps
// each environment's recent context — returns-to-go, states, actions and timesteps of
// the last K steps — and the return still to collect, which starts at the episode's
// target return and loses each reward received, as in the DT paper's evaluation.
//
// Use: Begin(i, obs, target) when environment i starts an episode; Act for all
// environments; Observe(i, reward, obs) after each step that did not end i's episode
// (an ended episode is followed by Begin for the next one). Actor implements
// agents.Actor, so agents.Rollout runs it like any other actor.
type Actor struct {
	model          *Model
	n, k, obs, act int
	greedy         bool
	rng            *rand.Rand

	// History of each environment, oldest first, the current step last: (N, K, ·).
	returns   []float32 // (N, K)
	states    []float32 // (N, K, obs)
	actions   []float32 // (N, K, act)
	timesteps []int     // (N, K)
	length    []int     // valid steps in each history, 1..K
	rtg       []float64 // the current return-to-go of each environment
	t         []int     // the current timestep of each environment

	active []int // the running environments, in order (the windows of the next Act)
	batch  *Batch
	out    []float32 // (N, act) the model's actions
}

// NewActor prepares an actor for n environments. greedy takes the policy's most
// likely action (its mode); otherwise actions are sampled from rng, which is then
// required unless the head is deterministic (see Model.Act).
func NewActor(model *Model, n int, greedy bool, rng *rand.Rand) (*Actor, error) {
	if n <= 0 {
		return nil, fmt.Errorf("policy: actor: actor for %d environments: want at least 1", n)
	}
	cfg := model.Config()
	if !greedy && rng == nil && cfg.Head != HeadDeterministic {
		return nil, fmt.Errorf("policy: actor: sampled actions need a random source")
	}
	k, obs, act := cfg.Context, cfg.StateDim, cfg.Action.Width()
	return &Actor{
		model: model, n: n, k: k, obs: obs, act: act, greedy: greedy, rng: rng,
		returns:   make([]float32, n*k),
		states:    make([]float32, n*k*obs),
		actions:   make([]float32, n*k*act),
		timesteps: make([]int, n*k),
		length:    make([]int, n),
		rtg:       make([]float64, n),
		t:         make([]int, n),
		active:    make([]int, 0, n),
		batch:     NewBatch(cfg, n),
		out:       make([]float32, n*act),
	}, nil
}

// Len is the number of environments.
func (a *Actor) Len() int { return a.n }

// ReturnToGo is the return environment i still aims to collect in its episode.
func (a *Actor) ReturnToGo(i int) float64 { return a.rtg[i] }

// Begin starts environment i's episode at its first observation, conditioned on the
// target return.
func (a *Actor) Begin(i int, obs []float64, target float64) error {
	if len(obs) != a.obs {
		return fmt.Errorf("policy: actor: observation of %d values, the policy expects %d", len(obs), a.obs)
	}
	a.length[i] = 0
	a.rtg[i] = target
	a.t[i] = 0
	a.push(i, obs)
	return nil
}

// Observe records the reward of environment i's last step and the observation it led
// to, which becomes the current step.
func (a *Actor) Observe(i int, reward float64, obs []float64) {
	a.rtg[i] -= reward
	a.t[i]++
	a.push(i, obs)
}

// push appends the current step (return-to-go, state, timestep) to i's history,
// dropping the oldest step when the history holds K already.
func (a *Actor) push(i int, obs []float64) {
	k, o, c := a.k, a.obs, a.act
	if a.length[i] == k {
		copy(a.returns[i*k:], a.returns[i*k+1:(i+1)*k])
		copy(a.states[i*k*o:], a.states[(i*k+1)*o:(i+1)*k*o])
		copy(a.actions[i*k*c:], a.actions[(i*k+1)*c:(i+1)*k*c])
		copy(a.timesteps[i*k:], a.timesteps[i*k+1:(i+1)*k])
	} else {
		a.length[i]++
	}
	j := i*k + a.length[i] - 1
	a.returns[j] = float32(a.rtg[i])
	for d, v := range obs {
		a.states[j*o+d] = float32(v)
	}
	clear(a.actions[j*c : (j+1)*c])
	a.timesteps[j] = a.t[i]
}

// End marks environment i idle: its episode ended and no new one has begun. Act
// skips idle environments (their actions are left as they were), so the tail of an
// evaluation, when few episodes are still running, costs only what those cost.
func (a *Actor) End(i int) { a.length[i] = 0 }

// Act chooses the next action of every running environment into actions (N ×
// action width, float64 as envs take them): greedy or sampled, as NewActor was told.
// Sampling draws from the random source in environment order, so a run is
// reproducible from its seed and N. Act with no running environment is an error.
func (a *Actor) Act(actions []float64) error {
	if len(actions) != a.n*a.act {
		return fmt.Errorf("policy: actor: actions buffer of %d values, want %d", len(actions), a.n*a.act)
	}
	kk := 0
	a.active = a.active[:0]
	for i, l := range a.length {
		if l > 0 {
			a.active = append(a.active, i)
			kk = max(kk, l)
		}
	}
	if len(a.active) == 0 {
		return fmt.Errorf("policy: actor: Act with no episode running (Begin first)")
	}
	// Window w is the last kk steps of the w-th running environment, left-padded.
	bt := a.batch
	bt.B, bt.K = len(a.active), kk
	k, o, c := a.k, a.obs, a.act
	for w, env := range a.active {
		pad := kk - a.length[env]
		for s := 0; s < kk; s++ {
			dst := w*kk + s
			if s < pad {
				bt.Mask[dst] = false
				bt.Returns[dst] = 0
				bt.Timesteps[dst] = 0
				clear(bt.States[dst*o : (dst+1)*o])
				clear(bt.Actions[dst*c : (dst+1)*c])
				continue
			}
			src := env*k + s - pad
			bt.Mask[dst] = true
			bt.Returns[dst] = a.returns[src]
			bt.Timesteps[dst] = a.timesteps[src]
			copy(bt.States[dst*o:(dst+1)*o], a.states[src*o:(src+1)*o])
			copy(bt.Actions[dst*c:(dst+1)*c], a.actions[src*c:(src+1)*c])
		}
	}
	if err := a.model.Act(bt, a.greedy, a.rng, a.out); err != nil {
		return fmt.Errorf("policy: actor: act: %w", err)
	}
	for w, env := range a.active {
		j := env*k + a.length[env] - 1
		copy(a.actions[j*c:(j+1)*c], a.out[w*c:(w+1)*c])
		for d := 0; d < c; d++ {
			actions[env*c+d] = float64(a.out[w*c+d])
		}
	}
	return nil
}
