package eva

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/evarl/evarl/internal/safetensors"
)

// State is the result of an EVA pass: per layer its rank and the principal
// components of its input. It is computed once (the expensive part) and saved, so
// several fine-tunes can start from it.
type State struct {
	// Config is the EVA config the pass ran with.
	Config Config `json:"config"`
	// Fingerprint identifies the base model the activations came from (empty when
	// unknown); applying the state to another model is refused.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Batches is the number of minibatches the pass consumed.
	Batches int `json:"batches"`
	// Layers are the target layers in the order of the pass.
	Layers []LayerState `json:"layers"`
	// Tables are the target embedding tables: their id counts over the real tokens
	// of the pass, all an embedding adapter's EVA init needs (package lora's doc
	// explains why: a one-hot input's principal directions are its ids by count).
	Tables []TableState `json:"tables,omitempty"`
}

// TableState is one embedding table's part of a State.
type TableState struct {
	Name string `json:"name"`
	// Counts[id] is how often the table looked id up for a real token.
	Counts []float64 `json:"counts"`
}

// LayerState is one layer's part of a State.
type LayerState struct {
	// Name is the layer's name in the model.
	Name string `json:"name"`
	// Owner names the layer whose PCA this one shares (equal inputs), "" when the
	// layer has its own.
	Owner string `json:"owner,omitempty"`
	// NominalRank is r before redistribution, Rank after it (0: no adapter).
	NominalRank int `json:"nominal_rank"`
	Rank        int `json:"rank"`
	// NComponents is how many components the PCA kept; DIn the input width.
	NComponents int `json:"n_components"`
	DIn         int `json:"d_in"`
	// Batches counts the minibatches folded into the PCA, Skipped those it skipped
	// for having fewer rows than components, Rows the rows seen.
	Batches int `json:"batches"`
	Skipped int `json:"skipped"`
	Rows    int `json:"rows"`
	// Converged reports whether the first Rank components converged at tau.
	Converged bool `json:"converged"`

	// Components (NComponents×DIn, row-major), the singular values, the explained
	// variances and their ratios to the total input variance. Stored in the
	// safetensors part of the file, not in the JSON.
	Components             []float64 `json:"-"`
	Singular               []float64 `json:"-"`
	ExplainedVariance      []float64 `json:"-"`
	ExplainedVarianceRatio []float64 `json:"-"`
}

// State collects the pass's result. It is meaningful once Done, or, when the pass
// was cut short, with the layers' Converged flags telling which are not final.
func (p *Pass) State() (*State, error) {
	if !p.allFitted() {
		return nil, fmt.Errorf("eva: no state yet: some layers have not had a minibatch with enough rows")
	}
	s := &State{Config: p.cfg, Batches: p.batches}
	for i, l := range p.layers {
		o := p.owner[i]
		pca := p.pcas[o]
		ls := LayerState{
			Name: l.Name, NominalRank: l.Rank, Rank: p.ranks[i], DIn: l.DIn,
			NComponents: pca.K, Batches: p.used[o], Skipped: p.skipped[o], Rows: pca.Seen,
			Converged:              p.converged(i),
			Components:             slices.Clone(pca.Components),
			Singular:               slices.Clone(pca.Singular),
			ExplainedVariance:      slices.Clone(pca.ExplainedVariance),
			ExplainedVarianceRatio: slices.Clone(pca.ExplainedVarianceRatio),
		}
		if o != i {
			ls.Owner = p.layers[o].Name
		}
		s.Layers = append(s.Layers, ls)
	}
	return s, nil
}

// Layer returns the state of the named layer.
func (s *State) Layer(name string) (*LayerState, bool) {
	for i := range s.Layers {
		if s.Layers[i].Name == name {
			return &s.Layers[i], true
		}
	}
	return nil, false
}

// ExplainedShare is the share of the layer's input variance its Rank components
// explain.
func (l *LayerState) ExplainedShare() float64 {
	var s float64
	for _, v := range l.ExplainedVarianceRatio[:l.Rank] {
		s += v
	}
	return s
}

// LoraA returns the layer's lora_A initialisation, Rank×DIn float32: its first Rank
// components, each divided by the square root of its singular value when whiten is
// set. Nil for a rank-0 layer.
func (l *LayerState) LoraA(whiten bool) []float32 {
	if l.Rank == 0 {
		return nil
	}
	a := make([]float32, l.Rank*l.DIn)
	for j := 0; j < l.Rank; j++ {
		f := 1.0
		if whiten {
			f = 1 / math.Sqrt(l.Singular[j])
		}
		for c := 0; c < l.DIn; c++ {
			a[j*l.DIn+c] = float32(l.Components[j*l.DIn+c] * f)
		}
	}
	return a
}

// ScaledAlpha returns the alpha a layer of rank Rank gets when its nominal rank had
// alpha: with adjust_scaling_factors alpha·Rank/NominalRank, so that alpha/r stays
// the same (alpha·√(Rank/NominalRank) under rsLoRA, which keeps alpha/√r), else alpha.
func (l *LayerState) ScaledAlpha(alpha float64, adjust, rslora bool) float64 {
	if !adjust || l.Rank == 0 {
		return alpha
	}
	ratio := float64(l.Rank) / float64(l.NominalRank)
	if rslora {
		return alpha * math.Sqrt(ratio)
	}
	return alpha * ratio
}

// The EVA state file's format name and version. Version 2 is sealed (a digest of
// the content in the metadata); version 1 files load only with
// LoadOptions.AllowUnverified.
const (
	stateFormat  = "evarl-eva-state"
	stateVersion = "2"
)

// Save writes the state to path as one safetensors file: the tensors
// "<layer>.components" (F64, NComponents×DIn), "<layer>.singular_values",
// "<layer>.explained_variance" and "<layer>.explained_variance_ratio" for every layer
// that owns its PCA, and in the metadata "format" = "evarl-eva-state", "version" =
// "2", "state" = the JSON of State (config, fingerprint, per-layer scalars) and a
// SHA-256 digest of all of it (docs/file-integrity.md), which Load verifies. The file
// is written to a temporary name and renamed.
func (s *State) Save(path string) error {
	f, err := s.encode()
	if err != nil {
		return fmt.Errorf("eva: save %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("eva: save state: %w", err)
	}
	return nil
}

// encode lays the state out as a sealed safetensors file.
func (s *State) encode() (*safetensors.File, error) {
	meta, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	f := &safetensors.File{Metadata: map[string]string{"format": stateFormat, "version": stateVersion, "state": string(meta)}}
	for _, l := range s.Layers {
		if l.Owner != "" {
			continue
		}
		for _, t := range []struct {
			suffix string
			shape  []int
			data   []float64
		}{
			{"components", []int{l.NComponents, l.DIn}, l.Components},
			{"singular_values", []int{l.NComponents}, l.Singular},
			{"explained_variance", []int{l.NComponents}, l.ExplainedVariance},
			{"explained_variance_ratio", []int{l.NComponents}, l.ExplainedVarianceRatio},
		} {
			tt, err := safetensors.NewFloat64(l.Name+"."+t.suffix, t.shape, t.data)
			if err != nil {
				return nil, err
			}
			if err := f.Add(tt); err != nil {
				return nil, err
			}
		}
	}
	f.Seal(nil)
	return f, nil
}

// LoadOptions control LoadWith.
type LoadOptions struct {
	// AllowUnverified accepts a state file without a digest (written by evarl
	// before states were sealed, format version 1). A digest that is present is
	// verified regardless.
	AllowUnverified bool
}

// Load reads a state written by Save, strictly (LoadWith with zero options).
func Load(path string) (*State, error) { return LoadWith(path, LoadOptions{}) }

// LoadWith reads a state written by Save: it verifies the file's digest, then checks
// that every tensor is present with the shape the metadata implies and holds finite
// values, and that every size is consistent (and within memory) before anything is
// allocated from it. Errors name the file and the layer or tensor.
func LoadWith(path string, opts LoadOptions) (*State, error) {
	s, err := safetensors.ReadSealed(path, nil, safetensors.ReadOptions{AllowUnverified: opts.AllowUnverified})
	if err != nil {
		if errors.Is(err, safetensors.ErrUnverified) {
			err = fmt.Errorf("%w; a state saved by an older evarl (version 1) loads with AllowUnverified", err)
		}
		return nil, fmt.Errorf("eva: load state: %w", err)
	}
	if s.Verified && s.File.Metadata["version"] != stateVersion {
		return nil, fmt.Errorf("eva: %s: state version %q with a digest: want %q", path, s.File.Metadata["version"], stateVersion)
	}
	return decodeState(path, s.File)
}

// decodeState reads a State out of a decoded state file (path is used in errors).
func decodeState(path string, f *safetensors.File) (*State, error) {
	if f.Metadata["format"] != stateFormat {
		return nil, fmt.Errorf("eva: %s: metadata format %q: want %q (not an EVA state file)", path, f.Metadata["format"], stateFormat)
	}
	if v := f.Metadata["version"]; v != stateVersion && v != "1" {
		return nil, fmt.Errorf("eva: %s: state version %q: want %q (or \"1\")", path, v, stateVersion)
	}
	s := &State{}
	dec := json.NewDecoder(strings.NewReader(f.Metadata["state"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("eva: %s: metadata \"state\": %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("eva: %s: metadata \"state\": unexpected data after the JSON object", path)
	}
	if err := s.Config.Validate(); err != nil {
		return nil, fmt.Errorf("eva: %s: %w", path, err)
	}
	if s.Batches < 0 {
		return nil, fmt.Errorf("eva: %s: batches = %d: want ≥ 0", path, s.Batches)
	}
	names := map[string]bool{}
	for i := range s.Layers {
		l := &s.Layers[i]
		switch {
		case l.Name == "":
			return nil, fmt.Errorf("eva: %s: layer %d has no name", path, i)
		case names[l.Name]:
			return nil, fmt.Errorf("eva: %s: layer %q appears twice", path, l.Name)
		case l.NominalRank < 0 || l.Batches < 0 || l.Skipped < 0 || l.Rows < 0:
			return nil, fmt.Errorf("eva: %s: layer %q: nominal_rank %d, batches %d, skipped %d, rows %d: want ≥ 0", path, l.Name, l.NominalRank, l.Batches, l.Skipped, l.Rows)
		case l.Owner == l.Name:
			return nil, fmt.Errorf("eva: %s: layer %q names itself as owner", path, l.Name)
		}
		names[l.Name] = true
	}
	byName := map[string]*LayerState{}
	for i := range s.Layers {
		l := &s.Layers[i]
		if l.Owner != "" {
			continue
		}
		if l.NComponents < 1 || l.DIn < l.NComponents || l.Rank < 0 || l.Rank > l.NComponents {
			return nil, fmt.Errorf("eva: %s: layer %q: n_components %d, d_in %d, rank %d are inconsistent", path, l.Name, l.NComponents, l.DIn, l.Rank)
		}
		// The components tensor must hold n_components × d_in values, which bounds
		// both by the file's size; the product is formed only after that check
		// cannot overflow.
		if float64(l.NComponents)*float64(l.DIn) > float64(math.MaxInt32)*16 {
			return nil, fmt.Errorf("eva: %s: layer %q: n_components %d × d_in %d is larger than any tensor the file can hold", path, l.Name, l.NComponents, l.DIn)
		}
		get := func(suffix string, n int, nonNegative bool) ([]float64, error) {
			name := l.Name + "." + suffix
			t, ok := f.Get(name)
			if !ok {
				return nil, fmt.Errorf("eva: %s: tensor %q missing", path, name)
			}
			if t.DType != safetensors.F64 || t.NumElements() != n {
				return nil, fmt.Errorf("eva: %s: tensor %q is %s of shape %v; want F64 with %d values", path, name, t.DType, t.Shape, n)
			}
			v, err := t.Float64()
			if err != nil {
				return nil, fmt.Errorf("eva: %s: tensor %q: %w", path, name, err)
			}
			for i, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) || nonNegative && x < 0 {
					return nil, fmt.Errorf("eva: %s: tensor %q holds %v at index %d; want a finite number%s", path, name, x, i, map[bool]string{true: " ≥ 0"}[nonNegative])
				}
			}
			return v, nil
		}
		var err error
		if l.Components, err = get("components", l.NComponents*l.DIn, false); err != nil {
			return nil, err
		}
		if l.Singular, err = get("singular_values", l.NComponents, true); err != nil {
			return nil, err
		}
		if l.ExplainedVariance, err = get("explained_variance", l.NComponents, true); err != nil {
			return nil, err
		}
		if l.ExplainedVarianceRatio, err = get("explained_variance_ratio", l.NComponents, true); err != nil {
			return nil, err
		}
		byName[l.Name] = l
	}
	for i := range s.Layers {
		l := &s.Layers[i]
		if l.Owner == "" {
			continue
		}
		o, ok := byName[l.Owner]
		if !ok {
			return nil, fmt.Errorf("eva: %s: layer %q shares the PCA of %q, which the file does not hold", path, l.Name, l.Owner)
		}
		if l.DIn != o.DIn || l.NComponents != o.NComponents || l.Rank < 0 || l.Rank > o.NComponents {
			return nil, fmt.Errorf("eva: %s: layer %q does not match the shape of its owner %q", path, l.Name, l.Owner)
		}
		l.Components, l.Singular = o.Components, o.Singular
		l.ExplainedVariance, l.ExplainedVarianceRatio = o.ExplainedVariance, o.ExplainedVarianceRatio
	}
	seen := map[string]bool{}
	for i, t := range s.Tables {
		if t.Name == "" || seen[t.Name] || names[t.Name] || len(t.Counts) == 0 {
			return nil, fmt.Errorf("eva: %s: table %d (%q): want a new non-empty name and counts", path, i, t.Name)
		}
		seen[t.Name] = true
		for id, c := range t.Counts {
			if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
				return nil, fmt.Errorf("eva: %s: table %q count %d is %v; want a finite number ≥ 0", path, t.Name, id, c)
			}
		}
	}
	// Every tensor belongs to a layer that owns its PCA.
	for _, name := range f.Names() {
		layer, _, _ := cutLast(name)
		if _, ok := byName[layer]; !ok {
			return nil, fmt.Errorf("eva: %s: tensor %q belongs to no layer of the state", path, name)
		}
	}
	return s, nil
}

// cutLast splits name at its last dot.
func cutLast(name string) (before, after string, found bool) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:], true
	}
	return name, "", false
}
