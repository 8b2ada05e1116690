package lora

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// smallPolicy is a 2-block Decision Transformer with discrete (3 actions) or
// continuous (2-dimensional) actions: the layer names every preset is defined on.
func smallPolicy(t *testing.T, discrete bool, dropout float64) *policy.Model {
	t.Helper()
	action := policy.ActionSpace{Discrete: 3}
	head := policy.HeadCategorical
	if !discrete {
		action = policy.ActionSpace{Dim: 2, Low: []float32{-1, -1}, High: []float32{1, 1}}
		head = policy.HeadDeterministic
	}
	c := policy.DefaultConfig(5, action)
	c.EmbedDim, c.Layers, c.Heads, c.Context, c.MaxEpisodeLen = 8, 2, 2, 3, 12
	c.Dropout, c.Head, c.ReturnScale = dropout, head, 10
	m, err := policy.New(c, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPresets(t *testing.T) {
	block := func(names ...string) []string {
		var out []string
		for _, b := range []string{"blocks.0.", "blocks.1."} {
			for _, n := range names {
				out = append(out, b+n)
			}
		}
		return out
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	attn := block("attn.q", "attn.k", "attn.v", "attn.o")
	all := block("attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj")
	tests := []struct {
		name     string
		discrete bool
		targets  []string
		want     []string // Linears in model order, then tables
	}{
		{"attention", true, []string{PresetAttention}, attn},
		{"mlp", true, []string{PresetMLP}, block("mlp.fc", "mlp.proj")},
		{"attention-mlp = DefaultTargets", true, []string{PresetAttentionMLP}, all},
		{"defaults", true, DefaultTargets, all},
		{"embeddings, discrete", true, []string{PresetEmbeddings}, []string{"embed_return", "embed_state", "embed_timestep", "embed_action"}},
		{"embeddings, continuous", false, []string{PresetEmbeddings}, []string{"embed_return", "embed_state", "embed_action", "embed_timestep"}},
		{"all-linear leaves out the head", true, []string{PresetAllLinear}, cat([]string{"embed_return", "embed_state"}, all)},
		{"all", true, []string{PresetAll}, cat([]string{"embed_return", "embed_state"}, all, []string{"head", "embed_timestep", "embed_action"})},
		{"preset and names", true, []string{PresetAttention, "head", "embed_action"}, cat(attn, []string{"head", "embed_action"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TargetModules = tt.targets
			ts, err := Targets(smallPolicy(t, tt.discrete, 0), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := targetNames(ts); got != strings.Join(tt.want, ", ") {
				t.Errorf("targets\n%s\nwant\n%s", got, strings.Join(tt.want, ", "))
			}
			for _, tg := range ts {
				if tg.Embedding != (tg.Name == "embed_timestep" || tt.discrete && tg.Name == "embed_action") {
					t.Errorf("%s: Embedding = %v", tg.Name, tg.Embedding)
				}
			}
		})
	}

	// modules_to_save presets (L2M's freeze switches): train the head, the
	// embeddings and the layer norms fully next to attention adapters.
	cfg := DefaultConfig()
	cfg.TargetModules = []string{PresetAttention}
	cfg.ModulesToSave = []string{"head", PresetEmbeddings, PresetLayerNorms}
	base := smallPolicy(t, true, 0)
	m, err := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(3, 3))})
	if err != nil {
		t.Fatal(err)
	}
	want := "embed_timestep embed_return embed_state embed_action embed_ln blocks.0.ln1 blocks.0.ln2 blocks.1.ln1 blocks.1.ln2 ln_f head"
	if got := strings.Join(m.SavedModules(), " "); got != want {
		t.Errorf("modules_to_save resolved to\n%s\nwant\n%s", got, want)
	}
	for _, p := range base.Params().All() {
		full := !strings.HasPrefix(p.Name, "blocks.") || strings.Contains(p.Name, ".ln")
		if p.Trainable() != full {
			t.Errorf("%s trainable %v, want %v", p.Name, p.Trainable(), full)
		}
	}
}

// Every entry must select something, and the error names the culprit (the
// hardening issue's [attn.q, nonexistent] case).
func TestTargetErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"one entry of two matches nothing", func(c *Config) { c.TargetModules = []string{"attn.q", "nonexistent"} },
			`target_modules entry "nonexistent" matches none of the model's layers`},
		{"misspelt preset", func(c *Config) { c.TargetModules = []string{"all_linear"} }, `entry "all_linear"`},
		{"suffix only at a dot", func(c *Config) { c.TargetModules = []string{"ttn.q"} }, `entry "ttn.q"`},
		{"layer norms cannot be adapted", func(c *Config) { c.TargetModules = []string{PresetLayerNorms} }, "list it in modules_to_save"},
		{"regex matches nothing", func(c *Config) { c.TargetModules = nil; c.TargetRegex = `blocks\.9\..*` }, "target_regex"},
		{"rank pattern key matches no target", func(c *Config) { c.RankPattern = map[string]int{"mlp.fc": 2} },
			`rank_pattern key "mlp.fc" matches none of the target layers`},
		{"alpha pattern key matches no target", func(c *Config) { c.AlphaPattern = map[string]float64{"head": 2} }, `alpha_pattern key "head"`},
		{"modules_to_save entry matches nothing", func(c *Config) { c.ModulesToSave = []string{"head", "haed"} }, `modules_to_save entry "haed"`},
		{"adapted and saved", func(c *Config) { c.TargetModules = []string{PresetAll}; c.ModulesToSave = []string{"head"} },
			"head is both adapted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TargetModules = []string{PresetAttention}
			tt.edit(&cfg)
			base := smallPolicy(t, true, 0)
			before := Fingerprint(base.Params())
			_, err := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			for _, l := range base.Linears() {
				if l.Adapter != nil || !l.W.Trainable() {
					t.Fatalf("a refused Apply left %s adapted or frozen", l.Name)
				}
			}
			if Fingerprint(base.Params()) != before {
				t.Fatal("a refused Apply changed the base model")
			}
		})
	}
	// A rank-0 layer is not adapted, so it may be trained fully instead.
	cfg := DefaultConfig()
	cfg.TargetModules = []string{PresetAttention, "head"}
	cfg.RankPattern = map[string]int{"head": 0}
	cfg.ModulesToSave = []string{"head"}
	if _, err := Apply(smallPolicy(t, true, 0), cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))}); err != nil {
		t.Errorf("rank-0 head in modules_to_save: %v", err)
	}
}

// The trainable-parameter counts of the presets on the shipped gridworld policy's
// shape (state 204, 3 actions, embed 64, 2 blocks, 512 timesteps), r = 8, counted by
// hand from the layer shapes: an adapter on (out, in) has r·(in + out) parameters
// (+ out with DoRA).
func TestPresetParameterCounts(t *testing.T) {
	c := policy.DefaultConfig(204, policy.ActionSpace{Discrete: 3})
	c.EmbedDim, c.Layers, c.Heads, c.Context, c.MaxEpisodeLen = 64, 2, 2, 10, 512
	const r = 8
	lora := func(in, out int) int { return r * (in + out) }
	attn := 4 * lora(64, 64)
	mlp := lora(64, 256) + lora(256, 64)
	emb := lora(1, 64) + lora(204, 64) + lora(512, 64) + lora(3, 64)
	head := lora(64, 3)
	tests := []struct {
		targets []string
		dora    bool
		want    int
	}{
		{[]string{PresetAttention}, false, 2 * attn},
		{[]string{PresetAttentionMLP}, false, 2 * (attn + mlp)},
		{[]string{PresetAllLinear}, false, 2*(attn+mlp) + lora(1, 64) + lora(204, 64)},
		{[]string{PresetAll}, false, 2*(attn+mlp) + emb + head},
		{[]string{PresetAll}, true, 2*(attn+mlp) + emb + head + 2*(5*64+256) + 4*64 + 3}, // magnitudes: q k v o proj 64, fc 256; 4 embeddings 64; head 3,
	}
	for _, tt := range tests {
		m, err := policy.New(c, rand.New(rand.NewPCG(1, 1)), nn.GonumGemm{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.R, cfg.TargetModules, cfg.UseDoRA = r, tt.targets, tt.dora
		lm, err := Apply(m, cfg, Options{Rng: rand.New(rand.NewPCG(2, 2))})
		if err != nil {
			t.Fatal(err)
		}
		if got := lm.Report(); got.Trainable != tt.want {
			t.Errorf("%v dora %v: %d trainable, want %d", tt.targets, tt.dora, got.Trainable, tt.want)
		} else {
			t.Logf("%v dora %v: %v", tt.targets, tt.dora, got)
		}
	}
}

// A Base without the optional Embedder (struct{ Base } hides the toy's Embeddings
// method): only its Linears can be adapted, and names of tables match nothing.
func TestBaseWithoutEmbedder(t *testing.T) {
	base := struct{ Base }{newToy(1)}
	cfg := DefaultConfig()
	cfg.TargetModules = []string{PresetAll}
	m, err := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Adapters) != 4 || len(m.Embeddings) != 0 {
		t.Errorf("%d linear and %d table adapters on a Base without Embedder, want 4 and 0", len(m.Adapters), len(m.Embeddings))
	}
	m.Detach()
	cfg.TargetModules = []string{"embed_action"}
	if _, err := Apply(struct{ Base }{newToy(1)}, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))}); err == nil ||
		!strings.Contains(err.Error(), `"embed_action" matches none`) {
		t.Errorf("a table name on a Base without Embedder: error %v", err)
	}
}
