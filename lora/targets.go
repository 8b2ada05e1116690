package lora

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/evarl/evarl/nn"
)

// Presets: named groups of a Decision Transformer's layers (package policy's names)
// that may stand for layer names in target_modules and modules_to_save, so configs
// stay short: target_modules: [attention-mlp, head], modules_to_save: [layer-norms].
const (
	// PresetAttention is the attention projections attn.q, attn.k, attn.v, attn.o.
	PresetAttention = "attention"
	// PresetMLP is the MLP's mlp.fc and mlp.proj.
	PresetMLP = "mlp"
	// PresetAttentionMLP is attention and MLP: L2M's adapter placement, which EVA's
	// RL experiment follows (DefaultTargets).
	PresetAttentionMLP = "attention-mlp"
	// PresetEmbeddings is the token embeddings: embed_return, embed_state,
	// embed_action (a Linear for continuous actions, a table for discrete ones) and
	// the embed_timestep table.
	PresetEmbeddings = "embeddings"
	// PresetLayerNorms is every LayerNorm (embed_ln, ln1, ln2, ln_f). LoRA cannot
	// adapt a LayerNorm, so it is valid in modules_to_save only (L2M's exclude_lns).
	PresetLayerNorms = "layer-norms"
	// PresetAllLinear is every Linear layer except the output head "head": PEFT's
	// "all-linear", which leaves out the output layer.
	PresetAllLinear = "all-linear"
	// PresetAll is every Linear layer, the head included, and every embedding table.
	PresetAll = "all"
)

// Presets lists the preset names in the order the documentation gives them.
var Presets = []string{PresetAttention, PresetMLP, PresetAttentionMLP, PresetEmbeddings, PresetLayerNorms, PresetAllLinear, PresetAll}

// kind is what sort of module a name belongs to.
type kind int

const (
	kindLinear kind = iota
	kindTable       // an nn.Embedding
	kindOther       // any other module with parameters (LayerNorm)
)

var (
	attentionNames = []string{"attn.q", "attn.k", "attn.v", "attn.o"}
	mlpNames       = []string{"mlp.fc", "mlp.proj"}
	embeddingNames = []string{"embed_return", "embed_state", "embed_action", "embed_timestep"}
	normNames      = []string{"embed_ln", "ln1", "ln2", "ln_f"}
)

// suffixMatch reports whether name is t or ends in "."+t, PEFT's target_modules rule.
func suffixMatch(name, t string) bool { return name == t || strings.HasSuffix(name, "."+t) }

func anySuffix(name string, ts []string) bool {
	for _, t := range ts {
		if suffixMatch(name, t) {
			return true
		}
	}
	return false
}

func isPreset(entry string) bool {
	for _, p := range Presets {
		if entry == p {
			return true
		}
	}
	return false
}

// entryMatches reports whether a target_modules / modules_to_save entry (a preset,
// a name or a dot-suffix) selects the module called name of kind k.
func entryMatches(entry, name string, k kind) bool {
	switch entry {
	case PresetAttention:
		return k == kindLinear && anySuffix(name, attentionNames)
	case PresetMLP:
		return k == kindLinear && anySuffix(name, mlpNames)
	case PresetAttentionMLP:
		return k == kindLinear && (anySuffix(name, attentionNames) || anySuffix(name, mlpNames))
	case PresetEmbeddings:
		return k != kindOther && anySuffix(name, embeddingNames)
	case PresetLayerNorms:
		return k == kindOther && anySuffix(name, normNames)
	case PresetAllLinear:
		return k == kindLinear && !suffixMatch(name, "head")
	case PresetAll:
		return k != kindOther
	}
	return suffixMatch(name, entry)
}

// Targets reports whether the Linear layer called name gets an adapter (before rank
// patterns, which may still give it rank 0). Use the function Targets for a whole
// model: it covers embedding tables too and checks every entry.
func (c *Config) Targets(name string) bool { return c.targets(name, kindLinear) }

func (c *Config) targets(name string, k kind) bool {
	if k == kindOther {
		return false
	}
	if c.TargetRegex != "" {
		return regexp.MustCompile(`^(?:` + c.TargetRegex + `)$`).MatchString(name)
	}
	for _, t := range c.TargetModules {
		if entryMatches(t, name, k) {
			return true
		}
	}
	return false
}

// Target is one layer an adapter config selects in a model.
type Target struct {
	// Name is the layer's name ("blocks.0.attn.q", "embed_action").
	Name string
	// Embedding is true for an embedding table (one-hot input), false for a Linear.
	Embedding bool
	// In and Out are the widths of the map the adapter changes: a Linear's In and
	// Out, or a table's N rows and C channels (its one-hot view, see
	// EmbeddingAdapter).
	In, Out int
	// Rank is the nominal rank (r or the rank_pattern match); 0 means no adapter.
	Rank int
	// Alpha is alpha or the alpha_pattern match.
	Alpha float64
}

// Embedder is implemented by a Base with embedding tables that LoRA may adapt and
// modules_to_save may train (policy.Model). It is optional: a Base without it has
// only Linear layers to adapt.
type Embedder interface {
	Embeddings() []*nn.Embedding
}

func embeddings(base Base) []*nn.Embedding {
	if e, ok := base.(Embedder); ok {
		return e.Embeddings()
	}
	return nil
}

// Targets resolves cfg against base: the Linear layers, then the embedding tables,
// that the config selects, in the model's order, with their nominal ranks. It is
// what Apply and Load attach adapters to and what an EVA pass must cover. Every
// entry of target_modules must select at least one layer, target_regex and every
// rank_pattern and alpha_pattern key at least one selected layer, and every entry of
// modules_to_save at least one module that is not also adapted; otherwise the error
// names the entry and the layers there are.
func Targets(base Base, cfg Config) ([]Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ts, _, err := resolve(base, &cfg)
	return ts, err
}

// resolve selects the targets and the modules_to_save parameters of base.
func resolve(base Base, cfg *Config) ([]Target, []*nn.Param, error) {
	type layer struct {
		name    string
		k       kind
		in, out int
	}
	var layers []layer
	for _, l := range base.Linears() {
		layers = append(layers, layer{l.Name, kindLinear, l.In, l.Out})
	}
	for _, e := range embeddings(base) {
		layers = append(layers, layer{e.Name, kindTable, e.N, e.C})
	}
	names := func() string {
		var s []string
		for _, l := range layers {
			s = append(s, l.name)
		}
		return strings.Join(s, ", ")
	}
	var ts []Target
	for _, l := range layers {
		if cfg.targets(l.name, l.k) {
			ts = append(ts, Target{Name: l.name, Embedding: l.k == kindTable, In: l.in, Out: l.out,
				Rank: cfg.RankFor(l.name), Alpha: cfg.AlphaFor(l.name)})
		}
	}
	if cfg.TargetRegex != "" && len(ts) == 0 {
		return nil, nil, fmt.Errorf("lora: target_regex %q matches none of the model's layers (%s)", cfg.TargetRegex, names())
	}
	for _, t := range cfg.TargetModules {
		found := false
		for _, l := range layers {
			if entryMatches(t, l.name, l.k) {
				found = true
				break
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("lora: target_modules entry %q matches none of the model's layers (%s) and is no preset (%s)",
				t, names(), strings.Join(Presets, ", "))
		}
	}
	for _, pat := range []struct {
		field string
		keys  []string
	}{{"rank_pattern", keys(cfg.RankPattern)}, {"alpha_pattern", keys(cfg.AlphaPattern)}} {
		for _, k := range pat.keys {
			re, _ := patternRegexp(k) // Validate compiled it
			found := false
			for _, t := range ts {
				found = found || re.MatchString(t.Name)
			}
			if !found {
				return nil, nil, fmt.Errorf("lora: %s key %q matches none of the target layers (%s)", pat.field, k, targetNames(ts))
			}
		}
	}

	// modules_to_save: modules are parameter names without their last component.
	kinds := map[string]kind{}
	for _, l := range layers {
		kinds[l.name] = l.k
	}
	adapted := map[string]bool{}
	for _, t := range ts {
		adapted[t.Name] = t.Rank > 0
	}
	var saved []*nn.Param
	for _, entry := range cfg.ModulesToSave {
		found := false
		for _, p := range base.Params().All() {
			mod := moduleOf(p.Name)
			k, ok := kinds[mod]
			if !ok {
				k = kindOther
			}
			if mod == "" || !entryMatches(entry, mod, k) {
				continue
			}
			if adapted[mod] {
				return nil, nil, fmt.Errorf("lora: %s is both adapted (target_modules) and trained fully (modules_to_save entry %q); choose one, as PEFT does", mod, entry)
			}
			found = true
			if !containsParam(saved, p) {
				saved = append(saved, p)
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("lora: modules_to_save entry %q matches no module of the model (parameters %s) and is no preset (%s)",
				entry, strings.Join(base.Params().Names(), ", "), strings.Join(Presets, ", "))
		}
	}
	// Keep the base model's parameter order, whatever the order of the entries.
	order := map[*nn.Param]int{}
	for i, p := range base.Params().All() {
		order[p] = i
	}
	sort.Slice(saved, func(i, j int) bool { return order[saved[i]] < order[saved[j]] })
	return ts, saved, nil
}

func moduleOf(param string) string {
	if i := strings.LastIndexByte(param, '.'); i >= 0 {
		return param[:i]
	}
	return ""
}

func containsParam(ps []*nn.Param, p *nn.Param) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func targetNames(ts []Target) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Name)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// savedModules returns the module names of the modules_to_save parameters, in
// order, once each: what an adapter file records as modules_to_save.
func savedModules(ps []*nn.Param) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range ps {
		if m := moduleOf(p.Name); !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
