package classic

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/nprand"
)

// seeder holds an environment's NumPy-compatible random stream.
type seeder struct {
	rng *nprand.PCG64
}

// reseed applies Reset's seed rule: a non-negative seed restarts the stream as
// np.random.default_rng(seed) does, NoSeed continues it (seed 0 on first use).
func (s *seeder) reseed(env string, seed int64) error {
	switch {
	case seed == envs.NoSeed:
		if s.rng == nil {
			s.rng = nprand.New(0)
		}
	case seed < 0:
		return fmt.Errorf("%s: reset seed %d: want a non-negative seed or envs.NoSeed", env, seed)
	default:
		s.rng = nprand.New(uint64(seed))
	}
	return nil
}

// f32 rounds x to the nearest float32 value, as np.array(..., dtype=np.float32) does.
func f32(x float64) float64 { return float64(float32(x)) }

// checkState validates a state vector's length and finiteness for SetState.
func checkState(env string, state []float64, names ...string) error {
	if len(state) != len(names) {
		return fmt.Errorf("%s: state has %d values, want %d (%v)", env, len(state), len(names), names)
	}
	for i, v := range state {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: state %s = %v: want a finite number", env, names[i], v)
		}
	}
	return nil
}

// checkRange rejects a state value outside [lo, hi].
func checkRange(env, name string, v, lo, hi float64) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: state %s = %v: want a value in [%v, %v]", env, name, v, lo, hi)
	}
	return nil
}

// float32Box is a Box whose bounds are the float32 values of low and high, as
// Gymnasium's float32 spaces are.
func float32Box(low, high []float64) envs.Box {
	l := make([]float64, len(low))
	h := make([]float64, len(high))
	for i := range low {
		l[i], h[i] = f32(low[i]), f32(high[i])
	}
	return envs.NewBox(l, h)
}

// continuousAction validates a one-element Box action (length, NaN, ±Inf) and returns
// it as Gymnasium sees it: a float32 value.
func continuousAction(env string, box envs.Box, action []float64) (float32, error) {
	if err := box.Check(action); err != nil {
		return 0, fmt.Errorf("%s: %w", env, err)
	}
	return float32(action[0]), nil
}

// discreteAction validates a Discrete(n) action. Whole numbers in range take a fast
// path; anything else gets envs.Discrete's error, naming the environment.
func discreteAction(env string, n int, action []float64) (int, error) {
	if len(action) == 1 {
		if v := action[0]; v >= 0 && v < float64(n) && v == float64(int(v)) {
			return int(v), nil
		}
	}
	a, err := envs.Discrete{N: n}.Index(action)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", env, err)
	}
	return a, nil
}
