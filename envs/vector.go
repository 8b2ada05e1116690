package envs

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// Vector steps N environments in parallel, like Gymnasium's vector API
// (gymnasium.vector.AsyncVectorEnv), on a fixed pool of worker goroutines: worker w
// owns a contiguous block of environments and steps them in order, so each
// environment is only ever touched by one goroutine between two calls.
//
// Seeds: Reset(seed) resets environment i with seed+i (NoSeed for all when seed is
// NoSeed), and automatic resets continue each environment's own random stream
// (Reset(NoSeed)), so the same seed and actions give the same trajectories whatever
// the number of workers or the scheduling.
//
// Autoreset: Vector uses Gymnasium's SAME_STEP mode (AutoresetMode.SAME_STEP). When
// environment i terminates or is truncated in Step, it is reset within the same
// Step: Terminated[i]/Truncated[i] and Rewards[i] describe the finished step,
// FinalObs row i holds the last observation of the finished episode, and Obs row i
// already holds the first observation of the next one, so the caller's next action
// for i is an action of the new episode. (Gymnasium 1.x defaults to NEXT_STEP, where
// the reset happens on the following call instead; SAME_STEP keeps every action
// meaningful and makes rollout loops simpler.)
//
// Ownership: the slices in VectorStep and the one Reset returns belong to the Vector
// and are overwritten by the next Reset or Step. The environments belong to the
// Vector too; Env(i) exposes them to read state (experts, renderers) between calls.
type Vector struct {
	envs           []Env
	obsDim, actDim int
	buf            VectorStep

	// The pool: one channel per worker carrying the operation to run on its block.
	workers int
	jobs    []chan vectorOp
	wg      sync.WaitGroup

	// Inputs of the current operation, read by the workers.
	seed    int64
	actions []float64
	errs    []error

	ready, closed bool
}

// VectorStep holds the batched results of Reset and Step, one row per environment.
type VectorStep struct {
	// Obs is N×obsDim, row-major: the observation to act on next (after an automatic
	// reset, the first observation of the new episode).
	Obs []float64
	// Rewards, Terminated and Truncated are the step's results, one per environment.
	Rewards    []float64
	Terminated []bool
	Truncated  []bool
	// Infos are the step's infos (for a finished episode, the info of its last step).
	Infos []Info
	// FinalObs is N×obsDim: row i is the last observation of the episode that
	// environment i finished in this step; rows of environments still running are
	// left as they were and must not be read.
	FinalObs []float64
}

type vectorOp uint8

const (
	opReset vectorOp = iota
	opStep
)

// NewVector builds a vector environment over envs (at least one; all with the same
// observation and action spaces) stepped by the given number of worker goroutines
// (≤ 0: one per CPU, and never more than len(envs)). With one worker everything runs
// on the caller's goroutine. Call Close to stop the workers.
func NewVector(envs []Env, workers int) (*Vector, error) {
	if len(envs) == 0 {
		return nil, fmt.Errorf("envs: vector of 0 environments; want at least 1")
	}
	for i, e := range envs {
		if e == nil {
			return nil, fmt.Errorf("envs: vector environment %d is nil", i)
		}
	}
	obs, act := envs[0].ObservationSpace(), envs[0].ActionSpace()
	for i, e := range envs[1:] {
		if o := e.ObservationSpace(); o.Dim() != obs.Dim() || o.String() != obs.String() {
			return nil, fmt.Errorf("envs: vector environment %d has observation space %v, environment 0 has %v; all must match", i+1, o, obs)
		}
		if a := e.ActionSpace(); a.Dim() != act.Dim() || a.String() != act.String() {
			return nil, fmt.Errorf("envs: vector environment %d has action space %v, environment 0 has %v; all must match", i+1, a, act)
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(envs))
	n, od := len(envs), obs.Dim()
	v := &Vector{
		envs:    append([]Env(nil), envs...),
		obsDim:  od,
		actDim:  act.Dim(),
		workers: workers,
		errs:    make([]error, n),
		buf: VectorStep{
			Obs:        make([]float64, n*od),
			Rewards:    make([]float64, n),
			Terminated: make([]bool, n),
			Truncated:  make([]bool, n),
			Infos:      make([]Info, n),
			FinalObs:   make([]float64, n*od),
		},
	}
	if workers > 1 {
		v.jobs = make([]chan vectorOp, workers)
		for w := range workers {
			v.jobs[w] = make(chan vectorOp)
			lo, hi := w*n/workers, (w+1)*n/workers
			go v.work(v.jobs[w], lo, hi)
		}
	}
	return v, nil
}

// MakeVector builds n copies of the environment id with opts (envs.Make, so each with
// its time limit) in a Vector with the given number of workers.
func MakeVector(id string, opts Options, n, workers int) (*Vector, error) {
	if n < 1 {
		return nil, fmt.Errorf("envs: vector of %d environments; want at least 1", n)
	}
	list := make([]Env, n)
	for i := range list {
		e, err := Make(id, opts)
		if err != nil {
			return nil, err
		}
		list[i] = e
	}
	return NewVector(list, workers)
}

// work is a worker goroutine: it runs each operation it receives on environments
// [lo, hi) and reports through the wait group.
func (v *Vector) work(jobs <-chan vectorOp, lo, hi int) {
	for op := range jobs {
		v.runBlock(op, lo, hi)
		v.wg.Done()
	}
}

func (v *Vector) runBlock(op vectorOp, lo, hi int) {
	for i := lo; i < hi; i++ {
		switch op {
		case opReset:
			v.errs[i] = v.resetOne(i)
		case opStep:
			v.errs[i] = v.stepOne(i)
		}
	}
}

// run executes op on every environment and waits for all of them.
func (v *Vector) run(op vectorOp) error {
	if v.workers == 1 {
		v.runBlock(op, 0, len(v.envs))
	} else {
		v.wg.Add(v.workers)
		for _, jobs := range v.jobs {
			jobs <- op
		}
		v.wg.Wait()
	}
	var errs []error
	for _, err := range v.errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (v *Vector) resetOne(i int) error {
	seed := v.seed
	if seed != NoSeed {
		seed += int64(i)
	}
	obs, info, err := v.envs[i].Reset(seed)
	if err != nil {
		return fmt.Errorf("envs: vector env %d: reset: %w", i, err)
	}
	copy(v.buf.Obs[i*v.obsDim:(i+1)*v.obsDim], obs)
	v.buf.Rewards[i] = 0
	v.buf.Terminated[i], v.buf.Truncated[i] = false, false
	v.buf.Infos[i] = info
	return nil
}

func (v *Vector) stepOne(i int) error {
	tr, err := v.envs[i].Step(v.actions[i*v.actDim : (i+1)*v.actDim])
	if err != nil {
		return fmt.Errorf("envs: vector env %d: step: %w", i, err)
	}
	row := v.buf.Obs[i*v.obsDim : (i+1)*v.obsDim]
	v.buf.Rewards[i] = tr.Reward
	v.buf.Terminated[i], v.buf.Truncated[i] = tr.Terminated, tr.Truncated
	v.buf.Infos[i] = tr.Info
	if !tr.Done() {
		copy(row, tr.Obs)
		return nil
	}
	copy(v.buf.FinalObs[i*v.obsDim:(i+1)*v.obsDim], tr.Obs)
	obs, _, err := v.envs[i].Reset(NoSeed)
	if err != nil {
		return fmt.Errorf("envs: vector env %d: autoreset: %w", i, err)
	}
	copy(row, obs)
	return nil
}

// Reset resets environment i with seed+i (every environment with NoSeed when seed is
// NoSeed) and returns the batched first observations, N×obsDim.
func (v *Vector) Reset(seed int64) ([]float64, error) {
	if v.closed {
		return nil, fmt.Errorf("envs: vector: Reset after Close")
	}
	if seed < 0 && seed != NoSeed {
		return nil, fmt.Errorf("envs: vector: reset seed %d: want a seed ≥ 0 or NoSeed", seed)
	}
	v.seed = seed
	if err := v.run(opReset); err != nil {
		v.ready = false
		return nil, err
	}
	v.ready = true
	return v.buf.Obs, nil
}

// Step applies actions (N×actDim, row i for environment i) to every environment in
// parallel and returns the batched results, resetting finished environments
// automatically (see Vector). After an error the episodes are in an unknown state:
// call Reset.
func (v *Vector) Step(actions []float64) (VectorStep, error) {
	switch {
	case v.closed:
		return VectorStep{}, fmt.Errorf("envs: vector: Step after Close")
	case !v.ready:
		return VectorStep{}, fmt.Errorf("envs: vector: Step before Reset (or after a failed Step): %w", ErrEpisodeOver)
	case len(actions) != len(v.envs)*v.actDim:
		return VectorStep{}, fmt.Errorf("envs: vector: %d action values, want %d environments × %d", len(actions), len(v.envs), v.actDim)
	}
	v.actions = actions
	err := v.run(opStep)
	v.actions = nil
	if err != nil {
		v.ready = false
		return VectorStep{}, err
	}
	return v.buf, nil
}

// Close stops the worker goroutines. The Vector cannot be used afterwards; Close is
// idempotent.
func (v *Vector) Close() {
	if v.closed {
		return
	}
	v.closed = true
	for _, jobs := range v.jobs {
		close(jobs)
	}
}

// Len is the number of environments N.
func (v *Vector) Len() int { return len(v.envs) }

// Workers is the number of worker goroutines stepping the environments.
func (v *Vector) Workers() int { return v.workers }

// Env returns environment i, for reading its state between calls (experts,
// renderers). Stepping or resetting it directly desynchronises the Vector.
func (v *Vector) Env(i int) Env { return v.envs[i] }

// ObsDim is the flattened size of one environment's observation.
func (v *Vector) ObsDim() int { return v.obsDim }

// ActDim is the flattened size of one environment's action.
func (v *Vector) ActDim() int { return v.actDim }
