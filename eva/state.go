package eva

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

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

const stateFormat = "evarl-eva-state"

// Save writes the state to path as one safetensors file: the tensors
// "<layer>.components" (F64, NComponents×DIn), "<layer>.singular_values",
// "<layer>.explained_variance" and "<layer>.explained_variance_ratio" for every layer
// that owns its PCA, and in the metadata "format" = "evarl-eva-state", "version" =
// "1" and "state" = the JSON of State (config, fingerprint, per-layer scalars). The
// file is written to a temporary name and renamed.
func (s *State) Save(path string) error {
	meta, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("eva: save %s: %w", path, err)
	}
	f := &safetensors.File{Metadata: map[string]string{"format": stateFormat, "version": "1", "state": string(meta)}}
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
				return fmt.Errorf("eva: save %s: %w", path, err)
			}
			if err := f.Add(tt); err != nil {
				return fmt.Errorf("eva: save %s: %w", path, err)
			}
		}
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("eva: save state: %w", err)
	}
	return nil
}

// Load reads a state written by Save, checking that every tensor is present with the
// shape the metadata implies. Errors name the file and the layer or tensor.
func Load(path string) (*State, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eva: load state: %w", err)
	}
	if f.Metadata["format"] != stateFormat {
		return nil, fmt.Errorf("eva: %s: metadata format %q: want %q (not an EVA state file)", path, f.Metadata["format"], stateFormat)
	}
	if v := f.Metadata["version"]; v != "1" {
		return nil, fmt.Errorf("eva: %s: state version %q: want \"1\"", path, v)
	}
	s := &State{}
	if err := json.Unmarshal([]byte(f.Metadata["state"]), s); err != nil {
		return nil, fmt.Errorf("eva: %s: metadata \"state\": %w", path, err)
	}
	if err := s.Config.Validate(); err != nil {
		return nil, fmt.Errorf("eva: %s: %w", path, err)
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
		get := func(suffix string, n int) ([]float64, error) {
			name := l.Name + "." + suffix
			t, ok := f.Get(name)
			if !ok {
				return nil, fmt.Errorf("eva: %s: tensor %q missing", path, name)
			}
			v, err := t.Float64()
			if err != nil {
				return nil, fmt.Errorf("eva: %s: tensor %q: %w", path, name, err)
			}
			if len(v) != n {
				return nil, fmt.Errorf("eva: %s: tensor %q has %d values (shape %v); want %d", path, name, len(v), t.Shape, n)
			}
			return v, nil
		}
		if l.Components, err = get("components", l.NComponents*l.DIn); err != nil {
			return nil, err
		}
		if l.Singular, err = get("singular_values", l.NComponents); err != nil {
			return nil, err
		}
		if l.ExplainedVariance, err = get("explained_variance", l.NComponents); err != nil {
			return nil, err
		}
		if l.ExplainedVarianceRatio, err = get("explained_variance_ratio", l.NComponents); err != nil {
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
	return s, nil
}
