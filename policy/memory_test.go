package policy

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/limits"
	"github.com/evarl/evarl/nn"
)

// allocated runs f and returns the bytes it allocated (runtime.MemStats.TotalAlloc).
func allocated(f func()) float64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return float64(b.TotalAlloc - a.TotalAlloc)
}

// The estimate is checked against what the runtime measures: building the model,
// then a training step (forward, loss, backward, AdamW), for both action kinds.
func TestFootprintMatchesAllocation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action ActionSpace
		head   string
	}{
		{"categorical", ActionSpace{Discrete: 4}, HeadCategorical},
		{"gaussian", boxed(3, -1, 1), HeadGaussian},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig(11, tc.action)
			cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Head = 64, 2, 2, 10, 512, tc.head
			const batch = 32
			fp := cfg.Footprint()
			var m *Model
			model := allocated(func() {
				var err error
				if m, err = New(cfg, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{}); err != nil {
					t.Fatal(err)
				}
			})
			n, _ := m.Params().Count()
			if float64(n) != fp.Params {
				t.Errorf("Params = %v, the model has %d", fp.Params, n)
			}
			bt := randomBatch(cfg, batch, rand.New(rand.NewPCG(3, 4)))
			step := allocated(func() {
				tr := newTrainer(t, m, 1e-3)
				tr.step(t, bt, 0.1)
			})
			t.Logf("model: estimated %.0f, allocated %.0f; step: estimated %.0f, allocated %.0f",
				fp.Model, model, fp.Training(batch)-fp.Model, step)
			for _, c := range []struct {
				what      string
				est, meas float64
			}{{"model", fp.Model, model}, {"training step", fp.Training(batch) - fp.Model, step}} {
				if r := c.est / c.meas; r < 0.9 || r > 1.2 {
					t.Errorf("%s: estimated %.3g bytes, allocated %.3g (ratio %.2f, want 0.9–1.2)", c.what, c.est, c.meas, r)
				}
			}
		})
	}
}

func TestValidateRejectsModelsLargerThanMemory(t *testing.T) {
	base := DefaultConfig(4, ActionSpace{Discrete: 2})
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"embed_dim", func(c *Config) { c.EmbedDim, c.Heads = 1000000, 1 }, "embed_dim = 1000000"},
		{"layers", func(c *Config) { c.Layers = 1000000000 }, "layers = 1000000000"},
		{"max_episode_len", func(c *Config) { c.MaxEpisodeLen = 1 << 40 }, "max_episode_len = 1099511627776"},
		{"state_dim", func(c *Config) { c.StateDim = 1 << 40 }, "state_dim = 1099511627776"},
		{"discrete actions", func(c *Config) { c.Action.Discrete = 1 << 40 }, "action.discrete = 1099511627776"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, limits.ErrTooLarge) {
				t.Fatalf("Validate = %v, want ErrTooLarge", err)
			}
			for _, want := range []string{tc.field, "limit of", "at most"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	if err := base.Validate(); err != nil {
		t.Errorf("the default config: %v", err)
	}
}

func TestCheckBatchSize(t *testing.T) {
	c := DefaultConfig(4, ActionSpace{Discrete: 2})
	if err := c.CheckBatchSize("batch_size", 64); err != nil {
		t.Errorf("batch 64: %v", err)
	}
	err := c.CheckBatchSize("batch_size", 1000000000)
	if !errors.Is(err, limits.ErrTooLarge) || !strings.Contains(err.Error(), "batch_size = 1000000000") || !strings.Contains(err.Error(), "at most") {
		t.Errorf("batch 1e9: %v", err)
	}
	// The largest batch it names does fit, and one more does not.
	var tl *limits.TooLarge
	errors.As(err, &tl)
	if err := c.CheckBatchSize("batch_size", int(tl.Max)); err != nil {
		t.Errorf("the batch it says fits (%v): %v", tl.Max, err)
	}
	if err := c.CheckBatchSize("batch_size", int(tl.Max)+1); err == nil {
		t.Errorf("one window more than it says fits: no error")
	}
}
