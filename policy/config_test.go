package policy

import (
	"math"
	"strings"
	"testing"
)

func continuous(dim int) ActionSpace {
	a := ActionSpace{Dim: dim, Low: make([]float32, dim), High: make([]float32, dim)}
	for i := range a.Low {
		a.Low[i], a.High[i] = -1, 1
	}
	return a
}

func TestDefaultConfigValid(t *testing.T) {
	for _, a := range []ActionSpace{{Discrete: 4}, continuous(6)} {
		c := DefaultConfig(17, a)
		if err := c.Validate(); err != nil {
			t.Errorf("DefaultConfig(%+v): %v", a, err)
		}
	}
	if got := DefaultConfig(3, ActionSpace{Discrete: 2}).Head; got != HeadCategorical {
		t.Errorf("discrete default head = %q, want %q", got, HeadCategorical)
	}
}

func TestConfigValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // the field the error must name
	}{
		{"state dim", func(c *Config) { c.StateDim = 0 }, "state_dim = 0"},
		{"embed", func(c *Config) { c.EmbedDim = -1 }, "embed_dim = -1"},
		{"layers", func(c *Config) { c.Layers = 0 }, "layers = 0"},
		{"heads", func(c *Config) { c.Heads = 0 }, "heads = 0"},
		{"heads divide", func(c *Config) { c.Heads = 3 }, "not a multiple of heads = 3"},
		{"context", func(c *Config) { c.Context = 0 }, "context = 0"},
		{"max ep len", func(c *Config) { c.MaxEpisodeLen = 0 }, "max_episode_len = 0"},
		{"dropout", func(c *Config) { c.Dropout = 1 }, "dropout = 1"},
		{"dropout nan", func(c *Config) { c.Dropout = math.NaN() }, "dropout = NaN"},
		{"activation", func(c *Config) { c.Activation = "tanh" }, `activation = "tanh"`},
		{"head", func(c *Config) { c.Head = "beta" }, `head = "beta"`},
		{"head kind", func(c *Config) { c.Head = HeadCategorical }, "needs a discrete"},
		{"nll beta range", func(c *Config) { c.Head, c.NLLBeta = HeadGaussian, 1.5 }, "nll_beta = 1.5"},
		{"nll beta head", func(c *Config) { c.NLLBeta = 1 }, `nll_beta = 1 is a setting of head "gaussian"`},
		{"return scale", func(c *Config) { c.ReturnScale = 0 }, "return_scale = 0"},
		{"return scale inf", func(c *Config) { c.ReturnScale = math.Inf(1) }, "return_scale = +Inf"},
		{"no action", func(c *Config) { c.Action = ActionSpace{} }, "neither discrete nor dim"},
		{"both", func(c *Config) { c.Action.Discrete = 3 }, "both set"},
		{"bounds len", func(c *Config) { c.Action.Low = c.Action.Low[:2] }, "low has 2"},
		{"bounds order", func(c *Config) { c.Action.Low[1] = 1 }, "low[1] = 1"},
		{"bounds inf", func(c *Config) { c.Action.High[0] = float32(math.Inf(1)) }, "high[0] = +Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(17, continuous(6))
			tc.modify(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	d := DefaultConfig(4, ActionSpace{Discrete: 3})
	d.Head = HeadGaussian
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "continuous") {
		t.Errorf("gaussian head on discrete actions: Validate() = %v", err)
	}
	d = DefaultConfig(4, ActionSpace{Discrete: 1})
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one discrete action: Validate() = %v", err)
	}
}
