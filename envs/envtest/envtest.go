package envtest

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/evarl/evarl/envs"
)

// episodes and steps bound the random-action runs so that Check stays fast even for
// environments with long time limits.
const (
	episodes     = 3
	stepsPerRun  = 300
	allocSteps   = 200
	shortLimit   = 3
	rejectChecks = 20
)

// Check runs the conformance subtests (see the package doc) on environments built by
// makeEnv. Each call of makeEnv must return a new, independent environment.
func Check(t *testing.T, makeEnv func() (envs.Env, error)) {
	t.Helper()
	mk := func(t *testing.T) envs.Env {
		t.Helper()
		env, err := makeEnv()
		if err != nil {
			t.Fatalf("makeEnv: %v", err)
		}
		if env == nil {
			t.Fatalf("makeEnv returned a nil environment and no error")
		}
		return env
	}
	t.Run("Spaces", func(t *testing.T) { checkSpaces(t, mk(t)) })
	t.Run("ResetDeterminism", func(t *testing.T) { checkReset(t, mk) })
	t.Run("RandomEpisodes", func(t *testing.T) { checkEpisodes(t, mk) })
	t.Run("BadActions", func(t *testing.T) { checkBadActions(t, mk) })
	t.Run("ObsOwnership", func(t *testing.T) { checkOwnership(t, mk) })
	t.Run("TimeLimit", func(t *testing.T) { checkTimeLimit(t, mk) })
	t.Run("Stateful", func(t *testing.T) { checkStateful(t, mk) })
	t.Run("StepAllocs", func(t *testing.T) { checkAllocs(t, mk(t)) })
}

func checkSpaces(t *testing.T, env envs.Env) {
	for name, sp := range map[string]envs.Space{"observation": env.ObservationSpace(), "action": env.ActionSpace()} {
		if sp == nil {
			t.Errorf("%s space is nil", name)
			continue
		}
		if sp.Dim() <= 0 {
			t.Errorf("%s space %v: Dim() = %d, want > 0", name, sp, sp.Dim())
		}
		switch s := sp.(type) {
		case envs.Discrete:
			if s.N < 1 {
				t.Errorf("%s space %v: N = %d, want ≥ 1", name, s, s.N)
			}
		case envs.Box:
			if len(s.Low) != len(s.High) {
				t.Errorf("%s space: len(Low) = %d, len(High) = %d", name, len(s.Low), len(s.High))
				continue
			}
			n := 1
			for _, d := range s.Shape {
				n *= d
			}
			if n != len(s.Low) {
				t.Errorf("%s space %v: shape %v holds %d values, bounds hold %d", name, s, s.Shape, n, len(s.Low))
			}
			for i := range s.Low {
				if !(s.Low[i] <= s.High[i]) {
					t.Errorf("%s space: Low[%d] = %v > High[%d] = %v", name, i, s.Low[i], i, s.High[i])
				}
			}
		}
		if sp.String() == "" {
			t.Errorf("%s space has an empty String()", name)
		}
	}
}

func checkReset(t *testing.T, mk func(*testing.T) envs.Env) {
	a, b := mk(t), mk(t)
	for _, seed := range []int64{0, 1, 7, 123456789} {
		oa := mustReset(t, a, seed)
		ob := mustReset(t, b, seed)
		if !slices.Equal(oa, ob) {
			t.Errorf("Reset(%d) on two envs: %v vs %v", seed, oa, ob)
		}
		oa2 := mustReset(t, a, seed)
		if !slices.Equal(oa, oa2) {
			t.Errorf("Reset(%d) twice on one env: %v vs %v", seed, oa, oa2)
		}
		// NoSeed continues the stream in the same way on both.
		na := mustReset(t, a, envs.NoSeed)
		mustReset(t, b, seed)
		nb := mustReset(t, b, envs.NoSeed)
		if !slices.Equal(na, nb) {
			t.Errorf("Reset(%d) then Reset(NoSeed): %v vs %v", seed, na, nb)
		}
	}
	fresh, seeded := mk(t), mk(t)
	of := mustReset(t, fresh, envs.NoSeed)
	os := mustReset(t, seeded, 0)
	if !slices.Equal(of, os) {
		t.Errorf("never-seeded Reset(NoSeed) = %v, want Reset(0) = %v", of, os)
	}
	if _, _, err := a.Reset(-2); err == nil {
		t.Errorf("Reset(-2) returned no error; seeds are non-negative or NoSeed")
	}
}

func checkEpisodes(t *testing.T, mk func(*testing.T) envs.Env) {
	a, b := mk(t), mk(t)
	rng := rand.New(rand.NewPCG(1, 2))
	act := make([]float64, a.ActionSpace().Dim())
	for ep := range episodes {
		seed := int64(10 + ep)
		oa, ob := mustReset(t, a, seed), mustReset(t, b, seed)
		checkObs(t, a, oa, "Reset")
		if !slices.Equal(oa, ob) {
			t.Fatalf("Reset(%d): two envs disagree: %v vs %v", seed, oa, ob)
		}
		for step := 1; step <= stepsPerRun; step++ {
			sample(a.ActionSpace(), rng, act)
			ta, err := a.Step(act)
			if err != nil {
				t.Fatalf("episode %d step %d: Step(%v) on a valid action: %v", ep, step, act, err)
			}
			tb, err := b.Step(act)
			if err != nil {
				t.Fatalf("episode %d step %d: second env: %v", ep, step, err)
			}
			checkObs(t, a, ta.Obs, "Step")
			if !sameTransition(ta, tb) {
				t.Fatalf("episode %d step %d: same seed and actions, different transitions: %+v vs %+v", ep, step, ta, tb)
			}
			if math.IsNaN(ta.Reward) || math.IsInf(ta.Reward, 0) {
				t.Fatalf("episode %d step %d: reward %v is not finite", ep, step, ta.Reward)
			}
			if ta.Info.Elapsed != step {
				t.Fatalf("episode %d step %d: Info.Elapsed = %d", ep, step, ta.Info.Elapsed)
			}
			if ta.Done() {
				break
			}
		}
	}
}

func checkObs(t *testing.T, env envs.Env, obs []float64, where string) {
	t.Helper()
	sp := env.ObservationSpace()
	if len(obs) != sp.Dim() {
		t.Fatalf("%s: observation has %d values, space %v has Dim %d", where, len(obs), sp, sp.Dim())
	}
	for i, v := range obs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%s: observation[%d] = %v is not finite", where, i, v)
		}
	}
	if !sp.Contains(obs) {
		t.Fatalf("%s: observation %v is outside %v", where, obs, sp)
	}
}

// badActions lists actions that every environment must reject for its action space.
func badActions(sp envs.Space) [][]float64 {
	n := sp.Dim()
	valid := make([]float64, n)
	bad := [][]float64{nil, make([]float64, n+1)}
	nan := slices.Clone(valid)
	nan[n-1] = math.NaN()
	bad = append(bad, nan)
	if d, ok := sp.(envs.Discrete); ok {
		bad = append(bad, []float64{-1}, []float64{float64(d.N)}, []float64{0.5}, []float64{math.Inf(1)})
	}
	return bad
}

func checkBadActions(t *testing.T, mk func(*testing.T) envs.Env) {
	a, b := mk(t), mk(t)
	sp := a.ActionSpace()
	rng := rand.New(rand.NewPCG(3, 4))
	act := make([]float64, sp.Dim())
	mustReset(t, a, 5)
	mustReset(t, b, 5)
	for step := range rejectChecks {
		for _, bad := range badActions(sp) {
			if _, err := stepNoPanic(t, a, bad); err == nil {
				t.Fatalf("step %d: Step(%v) returned no error for action space %v", step, bad, sp)
			}
		}
		if box, ok := sp.(envs.Box); ok {
			checkOutOfBounds(t, a, b, box, rng)
		}
		sample(sp, rng, act)
		ta, err := a.Step(act)
		if err != nil {
			t.Fatalf("step %d: valid action after rejected ones: %v", step, err)
		}
		tb, err := b.Step(act)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !sameTransition(ta, tb) {
			t.Fatalf("step %d: rejected actions changed the episode: %+v vs %+v", step, ta, tb)
		}
		if ta.Done() {
			return
		}
	}
}

// checkOutOfBounds steps a with an action outside the Box and b with its clipped
// version: a must either reject it (and then step like b with the clipped action) or
// produce exactly b's transition. Either way both envs advance by one step.
func checkOutOfBounds(t *testing.T, a, b envs.Env, box envs.Box, rng *rand.Rand) {
	t.Helper()
	out := make([]float64, box.Dim())
	clipped := make([]float64, box.Dim())
	sample(box, rng, out)
	bounded := false
	for i := range out {
		if !math.IsInf(box.High[i], 1) {
			out[i] = box.High[i] + 1 + math.Abs(box.High[i])
			bounded = true
		}
		clipped[i] = min(max(out[i], box.Low[i]), box.High[i])
	}
	if !bounded {
		return
	}
	ta, err := stepNoPanic(t, a, out)
	if err != nil {
		if ta, err = a.Step(clipped); err != nil {
			t.Fatalf("clipped action %v after rejected %v: %v", clipped, out, err)
		}
	}
	tb, err := b.Step(clipped)
	if err != nil {
		t.Fatalf("clipped action %v: %v", clipped, err)
	}
	// The reward may differ: Gymnasium's MountainCarContinuous charges the unclipped
	// action. The dynamics must be those of the clipped action, up to float32 rounding
	// (Gymnasium computes a clipped force in float64 and a raw one in float32).
	ta.Reward = tb.Reward
	for i := range ta.Obs {
		if i < len(tb.Obs) && math.Abs(ta.Obs[i]-tb.Obs[i]) <= 1e-6*(1+math.Abs(tb.Obs[i])) {
			ta.Obs[i] = tb.Obs[i]
		}
	}
	if !sameTransition(ta, tb) {
		t.Fatalf("out-of-bounds action %v neither rejected nor equal to clipped %v: %+v vs %+v", out, clipped, ta, tb)
	}
	// Resynchronise: float32 rounding may have left the two states apart.
	mustReset(t, a, 6)
	mustReset(t, b, 6)
}

func checkOwnership(t *testing.T, mk func(*testing.T) envs.Env) {
	a, b := mk(t), mk(t)
	rng := rand.New(rand.NewPCG(5, 6))
	act := make([]float64, a.ActionSpace().Dim())
	scribble := func(obs []float64) {
		for i := range obs {
			obs[i] = 1e6
		}
	}
	for ep := range episodes {
		scribble(mustReset(t, a, int64(20+ep)))
		mustReset(t, b, int64(20+ep))
		for step := range stepsPerRun {
			sample(a.ActionSpace(), rng, act)
			ta, err := a.Step(act)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := b.Step(act)
			if err != nil {
				t.Fatal(err)
			}
			if !sameTransition(ta, tb) {
				t.Fatalf("episode %d step %d: overwriting the returned observation changed the dynamics: %+v vs %+v", ep, step, ta, tb)
			}
			scribble(ta.Obs)
			if ta.Done() {
				break
			}
		}
	}
}

func checkTimeLimit(t *testing.T, mk func(*testing.T) envs.Env) {
	env := mk(t)
	act := make([]float64, env.ActionSpace().Dim())
	rng := rand.New(rand.NewPCG(7, 8))
	sample(env.ActionSpace(), rng, act)
	if _, err := stepNoPanic(t, env, act); !errors.Is(err, envs.ErrEpisodeOver) {
		t.Errorf("Step before Reset: err = %v, want one wrapping envs.ErrEpisodeOver (build the env with envs.Make)", err)
	}
	short := envs.NewTimeLimit(envs.Unwrap(mk(t)), shortLimit)
	mustReset(t, short, 0)
	for step := 1; step <= shortLimit; step++ {
		sample(short.ActionSpace(), rng, act)
		tr, err := short.Step(act)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if tr.Truncated != (step == shortLimit) {
			t.Fatalf("step %d of a %d-step limit: Truncated = %v", step, shortLimit, tr.Truncated)
		}
		if tr.Done() {
			break
		}
	}
	if _, err := stepNoPanic(t, short, act); !errors.Is(err, envs.ErrEpisodeOver) {
		t.Errorf("Step after the episode ended: err = %v, want one wrapping envs.ErrEpisodeOver", err)
	}
	if _, _, err := short.Reset(envs.NoSeed); err != nil {
		t.Errorf("Reset after the episode ended: %v", err)
	}
	if _, err := short.Step(act); err != nil {
		t.Errorf("Step after Reset: %v", err)
	}
}

func checkStateful(t *testing.T, mk func(*testing.T) envs.Env) {
	a := mk(t)
	st, ok := envs.As[envs.Stateful](a)
	if !ok {
		t.Skip("environment does not implement envs.Stateful")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	act := make([]float64, a.ActionSpace().Dim())
	mustReset(t, a, 3)
	for range 5 {
		sample(a.ActionSpace(), rng, act)
		if tr, err := a.Step(act); err != nil || tr.Done() {
			break
		}
	}
	s := st.State()
	if len(s) == 0 {
		t.Fatalf("State() is empty")
	}
	saved := slices.Clone(s)
	for i := range s {
		s[i] = math.NaN()
	}
	if got := st.State(); !slices.Equal(got, saved) {
		t.Fatalf("State() returned the environment's own storage: after writing to it State() = %v, want %v", got, saved)
	}
	if err := st.SetState(saved[:len(saved)-1]); err == nil {
		t.Errorf("SetState of length %d (want %d) returned no error", len(saved)-1, len(saved))
	}
	if err := st.SetState(append(slices.Clone(saved), 0)); err == nil {
		t.Errorf("SetState of length %d (want %d) returned no error", len(saved)+1, len(saved))
	}
	nan := slices.Clone(saved)
	nan[0] = math.NaN()
	if err := st.SetState(nan); err == nil {
		t.Errorf("SetState(%v) returned no error for NaN", nan)
	}
	// SetState(State()) on a second env reproduces the next transition.
	b := mk(t)
	stb, _ := envs.As[envs.Stateful](b)
	mustReset(t, b, 4)
	if err := st.SetState(saved); err != nil {
		t.Fatalf("SetState(State()) = %v", err)
	}
	if err := stb.SetState(saved); err != nil {
		t.Fatalf("SetState(State()) on a second env = %v", err)
	}
	if !slices.Equal(stb.State(), saved) {
		t.Fatalf("State() after SetState(%v) = %v", saved, stb.State())
	}
	sample(a.ActionSpace(), rng, act)
	mustReset(t, a, 4) // same elapsed count on both, then the same state
	if err := st.SetState(saved); err != nil {
		t.Fatal(err)
	}
	ta, err := a.Step(act)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Step(act)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTransition(ta, tb) {
		t.Fatalf("two envs set to the same state step differently: %+v vs %+v", ta, tb)
	}
}

func checkAllocs(t *testing.T, env envs.Env) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	act := make([]float64, env.ActionSpace().Dim())
	mustReset(t, env, 0)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	var mallocs uint64
	for range allocSteps {
		sample(env.ActionSpace(), rng, act)
		runtime.ReadMemStats(&before)
		tr, err := env.Step(act)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		mallocs += after.Mallocs - before.Mallocs
		if tr.Done() {
			mustReset(t, env, envs.NoSeed)
		}
	}
	if mallocs != 0 {
		t.Errorf("Step allocated %d times in %d steps, want 0", mallocs, allocSteps)
	}
}

func mustReset(t *testing.T, env envs.Env, seed int64) []float64 {
	t.Helper()
	obs, _, err := env.Reset(seed)
	if err != nil {
		t.Fatalf("Reset(%d): %v", seed, err)
	}
	return slices.Clone(obs)
}

// stepNoPanic calls Step and turns a panic into a test failure: the contract is an
// error, never a panic.
func stepNoPanic(t *testing.T, env envs.Env, act []float64) (tr envs.Transition, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Step(%v) panicked: %v", act, r)
		}
	}()
	return env.Step(act)
}

func sameTransition(a, b envs.Transition) bool {
	return slices.Equal(a.Obs, b.Obs) && a.Reward == b.Reward && a.Terminated == b.Terminated &&
		a.Truncated == b.Truncated && a.Info == b.Info
}

// sample draws a uniform action: an integer for Discrete, a point for a Box (unbounded
// sides are replaced by ±1).
func sample(sp envs.Space, rng *rand.Rand, act []float64) {
	switch s := sp.(type) {
	case envs.Discrete:
		act[0] = float64(rng.IntN(s.N))
	case envs.Box:
		for i := range act {
			lo, hi := s.Low[i], s.High[i]
			if math.IsInf(lo, -1) {
				lo = min(-1, hi-2)
			}
			if math.IsInf(hi, 1) {
				hi = max(1, lo+2)
			}
			act[i] = lo + (hi-lo)*rng.Float64()
		}
	default:
		for i := range act {
			act[i] = 0
		}
	}
}
