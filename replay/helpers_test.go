package replay

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/evarl/evarl/envs"
)

// randomEpisode builds a valid episode with random values (states when stateDim > 0).
func randomEpisode(rng *rand.Rand, task string, steps, obsDim, actDim, stateDim int) *Episode {
	ep := &Episode{
		EnvID: "Test-v0", TaskID: task, Seed: rng.Int64N(1000), Source: "test",
		Options: envs.Options{"length": 0.5, "name": task, "layout": []any{1.0, 2.0}},
		ObsDim:  obsDim, ActDim: actDim, StateDim: stateDim,
		Observations: make([]float32, (steps+1)*obsDim),
		Actions:      make([]float32, steps*actDim),
		Rewards:      make([]float32, steps),
		Terminated:   rng.IntN(2) == 0,
	}
	ep.Truncated = !ep.Terminated
	ep.Success = ep.Terminated
	for i := range ep.Observations {
		ep.Observations[i] = float32(rng.NormFloat64())
	}
	for i := range ep.Actions {
		ep.Actions[i] = float32(rng.IntN(4))
	}
	for i := range ep.Rewards {
		ep.Rewards[i] = float32(rng.Float64())
	}
	if stateDim > 0 {
		ep.States = make([]float64, (steps+1)*stateDim)
		for i := range ep.States {
			ep.States[i] = rng.NormFloat64()
		}
	}
	return ep
}

// writeFile writes episodes to a new file in a temporary directory and returns its path.
func writeFile(t testing.TB, episodes ...*Episode) string {
	t.Helper()
	return writeFileOpts(t, nil, episodes...)
}

// writeFileOpts is writeFile with writer options.
func writeFileOpts(t testing.TB, opts *WriteOptions, episodes ...*Episode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.evds")
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range episodes {
		if err := w.Write(ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// stepEpisode builds an episode whose observation at step t is [id, t] and whose
// rewards are given, so that a sampled window tells where it came from.
func stepEpisode(id float32, rewards ...float32) *Episode {
	n := len(rewards)
	ep := &Episode{EnvID: "Test-v0", ObsDim: 2, ActDim: 1, Rewards: rewards}
	for t := 0; t <= n; t++ {
		ep.Observations = append(ep.Observations, id, float32(t))
	}
	for t := 0; t < n; t++ {
		ep.Actions = append(ep.Actions, 10*id+float32(t))
	}
	return ep
}
