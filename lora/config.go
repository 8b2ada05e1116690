package lora

import (
	"fmt"
	"math"
	"regexp"
	"sort"
)

// Init methods for lora_A and lora_B (PEFT's init_lora_weights).
const (
	// InitRandom is PEFT's default: A Kaiming-uniform with a = √5, i.e.
	// U(−1/√in, 1/√in), and B = 0, so the adapted layer starts equal to the base.
	InitRandom = "random"
	// InitGaussian draws A from N(0, (1/r)²) (PEFT: normal_(std=1/r)) and sets B = 0.
	InitGaussian = "gaussian"
	// InitPiSSA puts the top-r singular triplets of W into the adapter
	// (A = √S_r·V_rᵀ, B = U_r·√S_r, both divided by √scale) and leaves the residual
	// W − scale·B·A in the base weight (Meng et al. 2024, PEFT's pissa init).
	InitPiSSA = "pissa"
	// InitOLoRA takes W = QR and sets B = Q[:, :r], A = R[:r], base W − scale·B·A
	// (Büyükakyüz 2024, PEFT's olora init).
	InitOLoRA = "olora"
	// InitEVA takes A from an EVA state (package eva) and sets B = 0.
	InitEVA = "eva"
)

// DefaultTargets are the linear layers of a Decision Transformer block that get
// adapters by default: attention projections and the MLP (L2M's choice, which EVA's
// RL experiment follows).
var DefaultTargets = []string{"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj"}

// Config describes the adapters, as PEFT's LoraConfig does.
type Config struct {
	// R is the nominal rank of every adapter (overridden per layer by RankPattern).
	R int `yaml:"r"`
	// Alpha sets the scale alpha/r (alpha/√r with UseRSLoRA); per layer by AlphaPattern.
	Alpha float64 `yaml:"alpha"`
	// Dropout is the probability of zeroing an input feature on the adapter path
	// in training mode, in [0, 1).
	Dropout float64 `yaml:"dropout"`
	// TargetModules selects the Linear layers and embedding tables to adapt. An
	// entry is a preset (attention, mlp, attention-mlp, embeddings, all-linear, all;
	// see Presets) or a name matched by suffix as PEFT does: a layer matches t when
	// its name is t or ends in "."+t ("attn.q" matches "blocks.0.attn.q"). Every
	// entry must select at least one layer of the model.
	TargetModules []string `yaml:"target_modules"`
	// TargetRegex, when set instead, selects the layers whose full name matches it.
	TargetRegex string `yaml:"target_regex"`
	// RankPattern overrides R for the layers a key matches. Keys are regular
	// expressions matched against the end of the name at a dot boundary, as in PEFT
	// ("blocks.0.attn.q" or "attn\\.(q|k)"); the most specific match wins (an exact
	// name, then the longest key). A rank of 0 gives the layer no adapter.
	RankPattern map[string]int `yaml:"rank_pattern"`
	// AlphaPattern overrides Alpha in the same way.
	AlphaPattern map[string]float64 `yaml:"alpha_pattern"`
	// UseRSLoRA scales by alpha/√r (Kalajdzievski 2023) instead of alpha/r.
	UseRSLoRA bool `yaml:"use_rslora"`
	// Init is how A and B start: random, gaussian, pissa, olora or eva.
	Init string `yaml:"init"`
	// UseDoRA makes every adapter a DoRA adapter (Liu et al. 2024, PEFT's
	// use_dora): the adapted weight's rows are rescaled to a trained magnitude
	// vector, which starts at the row norms of the base weight.
	UseDoRA bool `yaml:"use_dora"`
	// ModulesToSave lists base modules trained fully beside the adapters (PEFT's
	// modules_to_save), by name, dot-suffix or preset like TargetModules, plus the
	// preset layer-norms: e.g. [head] for the action head, [embeddings,
	// layer-norms] for L2M's exclude_embeds and exclude_lns. Their parameters stay
	// trainable and are saved in the adapter file. A module cannot be both adapted
	// and in ModulesToSave.
	ModulesToSave []string `yaml:"modules_to_save"`
}

// DefaultConfig returns PEFT's LoraConfig defaults (r 8, alpha 8, no dropout, random
// init) on the Decision Transformer's attention and MLP layers.
func DefaultConfig() Config {
	return Config{R: 8, Alpha: 8, TargetModules: append([]string(nil), DefaultTargets...), Init: InitRandom}
}

// Validate reports the first invalid field, naming it.
func (c *Config) Validate() error {
	switch {
	case c.R <= 0:
		return fmt.Errorf("lora config: r = %d: want > 0", c.R)
	case math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) || c.Alpha <= 0:
		return fmt.Errorf("lora config: alpha = %v: want a finite value > 0", c.Alpha)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("lora config: dropout = %v: want a value in [0, 1)", c.Dropout)
	case len(c.TargetModules) == 0 && c.TargetRegex == "":
		return fmt.Errorf("lora config: target_modules is empty and target_regex unset: want the layers to adapt")
	case len(c.TargetModules) > 0 && c.TargetRegex != "":
		return fmt.Errorf("lora config: both target_modules and target_regex set: want one")
	}
	for _, t := range c.TargetModules {
		switch t {
		case "":
			return fmt.Errorf("lora config: target_modules has an empty entry")
		case PresetLayerNorms:
			return fmt.Errorf("lora config: target_modules entry %q: LoRA cannot adapt a LayerNorm; list it in modules_to_save to train the layer norms fully", t)
		}
	}
	for _, t := range c.ModulesToSave {
		if t == "" {
			return fmt.Errorf("lora config: modules_to_save has an empty entry")
		}
	}
	if c.TargetRegex != "" {
		if _, err := regexp.Compile(`^(?:` + c.TargetRegex + `)$`); err != nil {
			return fmt.Errorf("lora config: target_regex %q: %w", c.TargetRegex, err)
		}
	}
	switch c.Init {
	case InitRandom, InitGaussian, InitPiSSA, InitOLoRA, InitEVA:
	default:
		return fmt.Errorf("lora config: init = %q: want %s, %s, %s, %s or %s", c.Init, InitRandom, InitGaussian, InitPiSSA, InitOLoRA, InitEVA)
	}
	for k, r := range c.RankPattern {
		if _, err := patternRegexp(k); err != nil {
			return fmt.Errorf("lora config: rank_pattern key %q: %w", k, err)
		}
		if r < 0 {
			return fmt.Errorf("lora config: rank_pattern[%q] = %d: want ≥ 0", k, r)
		}
	}
	for k, a := range c.AlphaPattern {
		if _, err := patternRegexp(k); err != nil {
			return fmt.Errorf("lora config: alpha_pattern key %q: %w", k, err)
		}
		if math.IsNaN(a) || math.IsInf(a, 0) || a <= 0 {
			return fmt.Errorf("lora config: alpha_pattern[%q] = %v: want a finite value > 0", k, a)
		}
	}
	return nil
}

// RankFor is the layer's rank: R or the most specific rank_pattern match.
func (c *Config) RankFor(name string) int {
	if k, ok := bestKey(keys(c.RankPattern), name); ok {
		return c.RankPattern[k]
	}
	return c.R
}

// AlphaFor is the layer's alpha: Alpha or the most specific alpha_pattern match.
func (c *Config) AlphaFor(name string) float64 {
	if k, ok := bestKey(keys(c.AlphaPattern), name); ok {
		return c.AlphaPattern[k]
	}
	return c.Alpha
}

// Scale is the LoRA scale for rank r and alpha: alpha/r, or alpha/√r with rsLoRA.
func (c *Config) Scale(r int, alpha float64) float64 {
	if c.UseRSLoRA {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// patternRegexp compiles a PEFT pattern key: it must match the whole name or a
// dot-separated suffix of it (PEFT: re.match(rf"(.*\.)?({key})$", name)).
func patternRegexp(key string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:.*\.)?(?:` + key + `)$`)
}

// bestKey picks the matching key for name: the key equal to name (or to name with its
// dots escaped) if any, else the
// longest matching key, ties broken by sort order, so the choice never depends on
// map iteration order.
func bestKey(sorted []string, name string) (string, bool) {
	best, found := "", false
	for _, k := range sorted {
		re, err := patternRegexp(k)
		if err != nil || !re.MatchString(name) {
			continue
		}
		if k == name || k == regexp.QuoteMeta(name) {
			return k, true
		}
		if !found || len(k) > len(best) {
			best, found = k, true
		}
	}
	return best, found
}
