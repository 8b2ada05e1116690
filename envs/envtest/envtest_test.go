package envtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/envs"
)

// walk is a minimal correct environment: a random walk on [−5, 5] that starts at a
// seeded position, moves by ±1 (Discrete) or by a clipped amount (Box), and
// terminates at the ends.
type walk struct {
	continuous bool
	rng        *rand.Rand
	pos        float64
	obs        []float64
}

func (w *walk) ObservationSpace() envs.Space { return envs.NewBox([]float64{-5}, []float64{5}) }

func (w *walk) ActionSpace() envs.Space {
	if w.continuous {
		return envs.NewBox([]float64{-1}, []float64{1})
	}
	return envs.Discrete{N: 2}
}

func (w *walk) Reset(seed int64) ([]float64, envs.Info, error) {
	switch {
	case seed == envs.NoSeed:
		if w.rng == nil {
			w.rng = rand.New(rand.NewPCG(0, 0))
		}
	case seed < 0:
		return nil, envs.Info{}, fmt.Errorf("walk: seed %d", seed)
	default:
		w.rng = rand.New(rand.NewPCG(uint64(seed), 0))
	}
	w.pos = float64(w.rng.IntN(5) - 2)
	w.obs[0] = w.pos
	return w.obs, envs.Info{}, nil
}

func (w *walk) Step(action []float64) (envs.Transition, error) {
	var d float64
	if w.continuous {
		b := w.ActionSpace().(envs.Box)
		if err := b.Check(action); err != nil {
			return envs.Transition{}, err
		}
		d = math.Max(-1, math.Min(1, action[0]))
	} else {
		a, err := envs.Discrete{N: 2}.Index(action)
		if err != nil {
			return envs.Transition{}, err
		}
		d = float64(2*a - 1)
	}
	w.pos = math.Max(-5, math.Min(5, w.pos+d))
	w.obs[0] = w.pos
	done := math.Abs(w.pos) >= 5
	return envs.Transition{Obs: w.obs, Reward: -1, Terminated: done}, nil
}

func (w *walk) State() []float64 { return []float64{w.pos} }

func (w *walk) SetState(s []float64) error {
	if len(s) != 1 || math.IsNaN(s[0]) || math.Abs(s[0]) > 5 {
		return fmt.Errorf("walk: bad state %v", s)
	}
	w.pos = s[0]
	return nil
}

func TestCheckPassesCorrectEnv(t *testing.T) {
	for _, continuous := range []bool{false, true} {
		t.Run(fmt.Sprintf("continuous=%v", continuous), func(t *testing.T) {
			Check(t, func() (envs.Env, error) {
				return envs.NewTimeLimit(&walk{continuous: continuous, obs: make([]float64, 1)}, 50), nil
			})
		})
	}
}

func TestBadActionsListsRejections(t *testing.T) {
	got := badActions(envs.Discrete{N: 3})
	want := 7 // nil, too long, NaN, −1, N, 0.5, +Inf
	if len(got) != want {
		t.Fatalf("badActions(Discrete(3)) has %d actions, want %d: %v", len(got), want, got)
	}
	for _, a := range got {
		if (envs.Discrete{N: 3}).Contains(a) {
			t.Errorf("bad action %v is inside Discrete(3)", a)
		}
	}
}
