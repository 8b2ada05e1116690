package lora

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"r zero", func(c *Config) { c.R = 0 }, "r = 0"},
		{"alpha zero", func(c *Config) { c.Alpha = 0 }, "alpha = 0"},
		{"dropout one", func(c *Config) { c.Dropout = 1 }, "dropout = 1"},
		{"no targets", func(c *Config) { c.TargetModules = nil }, "target_modules is empty"},
		{"both targets", func(c *Config) { c.TargetRegex = ".*" }, "both"},
		{"bad regex", func(c *Config) { c.TargetModules = nil; c.TargetRegex = "(" }, "target_regex"},
		{"unknown init", func(c *Config) { c.Init = "loftq" }, `init = "loftq"`},
		{"negative rank pattern", func(c *Config) { c.RankPattern = map[string]int{"attn.q": -1} }, `rank_pattern["attn.q"]`},
		{"bad alpha pattern", func(c *Config) { c.AlphaPattern = map[string]float64{"attn.q": 0} }, `alpha_pattern["attn.q"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTargetsAndPatterns(t *testing.T) {
	c := DefaultConfig()
	c.RankPattern = map[string]int{"attn.q": 4, "blocks.1.attn.q": 2, `attn\.(k|v)`: 6, "mlp.fc": 0}
	c.AlphaPattern = map[string]float64{"blocks.0.mlp.proj": 32}
	tests := []struct {
		name   string
		target bool
		rank   int
		alpha  float64
	}{
		{"blocks.0.attn.q", true, 4, 8},
		{"blocks.1.attn.q", true, 2, 8}, // the exact name beats the suffix
		{"blocks.0.attn.k", true, 6, 8},
		{"blocks.0.attn.o", true, 8, 8},
		{"blocks.0.mlp.fc", true, 0, 8},
		{"blocks.0.mlp.proj", true, 8, 32},
		{"blocks.0.xattn.q", false, 8, 8}, // suffix matches only at a dot
		{"predict_action", false, 8, 8},
	}
	for _, tt := range tests {
		if got := c.Targets(tt.name); got != tt.target {
			t.Errorf("Targets(%q) = %v, want %v", tt.name, got, tt.target)
		}
		if got := c.RankFor(tt.name); got != tt.rank {
			t.Errorf("RankFor(%q) = %d, want %d", tt.name, got, tt.rank)
		}
		if got := c.AlphaFor(tt.name); got != tt.alpha {
			t.Errorf("AlphaFor(%q) = %v, want %v", tt.name, got, tt.alpha)
		}
	}
	re := DefaultConfig()
	re.TargetModules = nil
	re.TargetRegex = `blocks\.[01]\.attn\.(q|v)`
	for name, want := range map[string]bool{"blocks.0.attn.q": true, "blocks.1.attn.v": true, "blocks.2.attn.q": false, "x.blocks.0.attn.q": false} {
		if got := re.Targets(name); got != want {
			t.Errorf("regex Targets(%q) = %v, want %v", name, got, want)
		}
	}
	rs := DefaultConfig()
	rs.UseRSLoRA = true
	if got := rs.Scale(16, 8); got != 2 {
		t.Errorf("rsLoRA scale(16, 8) = %v, want 8/√16 = 2", got)
	}
	if got := c.Scale(16, 8); got != 0.5 {
		t.Errorf("scale(16, 8) = %v, want 0.5", got)
	}
}
