package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
)

// A checkpoint is a directory holding two files, laid out as Hugging Face lays out a
// model, so the weights open in any safetensors reader:
//
//	config.json        CheckpointMeta: format name and version, the evarl version
//	                   that wrote it, the model Config, state normalisation statistics
//	model.safetensors  every parameter as an F32 tensor under its nn.Param name
//	                   (e.g. "blocks.0.attn.q.weight"), with the format name and
//	                   version repeated in the safetensors metadata
//
// Both files are written to temporary names and renamed, weights first: a crash
// leaves either the previous checkpoint or a complete new one (and at worst new
// weights beside the old config, which Load rejects by shape or loads consistently
// when the architecture did not change).
const (
	// CheckpointFormat names the format in both files.
	CheckpointFormat = "evarl-decision-transformer"
	// CheckpointVersion is the format version written, and the only one read.
	CheckpointVersion = 1
	// ConfigFile and WeightsFile are the file names inside a checkpoint directory.
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
)

// CheckpointMeta is the content of config.json.
type CheckpointMeta struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	// EvarlVersion is the module version of the binary that wrote the checkpoint
	// ("(devel)" for a development build), for provenance only.
	EvarlVersion string `json:"evarl_version"`
	Config       Config `json:"config"`
	// StateMean and StateStd are the normalisation statistics the model applies to
	// raw states (StateDim entries each).
	StateMean []float32 `json:"state_mean"`
	StateStd  []float32 `json:"state_std"`
	// ReturnScale repeats Config.ReturnScale at the top level for readers of the
	// file that look for it there.
	ReturnScale float64 `json:"return_scale"`
	// WeightsSHA256 is the hex SHA-256 of model.safetensors. Load verifies it when
	// present, which catches a corrupted weights file and a config and weights that
	// come from different saves (a crash between the two renames).
	WeightsSHA256 string `json:"weights_sha256,omitempty"`
}

// ErrCheckpoint is wrapped by every error about a checkpoint's content (as opposed to
// an I/O error), so callers can tell a bad file from a missing disk.
var ErrCheckpoint = errors.New("invalid checkpoint")

func evarlVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Save writes the model to the checkpoint directory dir (created if needed).
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	f := &safetensors.File{Metadata: map[string]string{
		"format":         CheckpointFormat,
		"format_version": fmt.Sprint(CheckpointVersion),
	}}
	for _, p := range m.params.All() {
		t, err := safetensors.NewFloat32(p.Name, p.Shape, p.Data)
		if err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
		if err := f.Add(t); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	sum := sha256.New()
	err := atomicfile.Write(filepath.Join(dir, WeightsFile), func(w io.Writer) error {
		return f.Encode(io.MultiWriter(w, sum))
	})
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	meta := CheckpointMeta{
		Format: CheckpointFormat, FormatVersion: CheckpointVersion, EvarlVersion: evarlVersion(),
		Config: m.cfg, StateMean: m.stateMean, StateStd: m.stateStd, ReturnScale: m.cfg.ReturnScale,
		WeightsSHA256: hex.EncodeToString(sum.Sum(nil)),
	}
	err = atomicfile.Write(filepath.Join(dir, ConfigFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(meta)
	})
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// ReadCheckpointMeta reads and validates config.json of the checkpoint in dir.
func ReadCheckpointMeta(dir string) (*CheckpointMeta, error) {
	path := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("load checkpoint: %s: %w: %s", path, ErrCheckpoint, fmt.Sprintf(format, a...))
	}
	var meta CheckpointMeta
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return nil, bad("%v", err)
	}
	if dec.More() {
		return nil, bad("unexpected data after the JSON object")
	}
	switch {
	case meta.Format != CheckpointFormat:
		return nil, bad("format = %q, want %q", meta.Format, CheckpointFormat)
	case meta.FormatVersion != CheckpointVersion:
		return nil, bad("format_version = %d, this build reads version %d", meta.FormatVersion, CheckpointVersion)
	}
	if err := meta.Config.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if meta.ReturnScale != meta.Config.ReturnScale {
		return nil, bad("return_scale = %v differs from config.return_scale = %v", meta.ReturnScale, meta.Config.ReturnScale)
	}
	if err := checkNorm(meta.StateMean, meta.StateStd, meta.Config.StateDim); err != nil {
		return nil, bad("%v", err)
	}
	return &meta, nil
}

// Load rebuilds a model from the checkpoint directory dir on the given Gemm backend.
// It checks the format version, the config, and that the weights file holds exactly
// the model's tensors, each F32 with the model's shape; every error names the file and
// the tensor. The model starts in eval mode with every parameter trainable.
func Load(dir string, g nn.Gemm) (*Model, error) { return LoadRand(dir, g, nil) }

// LoadRand is Load with the random source that drives the model's dropout and
// sampling from then on (nil: a fixed seed), so that a fine-tuning or resumed run draws
// from its own seeded stream.
func LoadRand(dir string, g nn.Gemm, rng *rand.Rand) (*Model, error) {
	meta, err := ReadCheckpointMeta(dir)
	if err != nil {
		return nil, err
	}
	m, err := New(meta.Config, rng, g)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", dir, err)
	}
	if err := m.SetStateNorm(meta.StateMean, meta.StateStd); err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", dir, err)
	}
	if err := m.loadWeights(filepath.Join(dir, WeightsFile), meta.WeightsSHA256); err != nil {
		return nil, err
	}
	m.SetTrain(false)
	return m, nil
}

// LoadWeights reads a safetensors file into the model's parameters. The file must
// hold exactly the model's parameter names with matching shapes.
func (m *Model) LoadWeights(path string) error { return m.loadWeights(path, "") }

// loadWeights is LoadWeights that also checks the file's SHA-256 when wantSum is
// not empty.
func (m *Model) loadWeights(path, wantSum string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("load checkpoint: %s: %w: %s", path, ErrCheckpoint, fmt.Sprintf(format, a...))
	}
	if wantSum != "" {
		if got := sha256.Sum256(raw); hex.EncodeToString(got[:]) != wantSum {
			return bad("SHA-256 %x differs from weights_sha256 in %s (corrupted, or not written by the same save)", got, ConfigFile)
		}
	}
	f, err := safetensors.Decode(raw)
	if err != nil {
		return bad("%v", err)
	}
	if v := f.Metadata["format"]; v != CheckpointFormat {
		return bad("metadata format = %q, want %q", v, CheckpointFormat)
	}
	if v := f.Metadata["format_version"]; v != fmt.Sprint(CheckpointVersion) {
		return bad("metadata format_version = %q, this build reads %d", v, CheckpointVersion)
	}
	for _, p := range m.params.All() {
		t, ok := f.Get(p.Name)
		if !ok {
			return bad("tensor %q missing", p.Name)
		}
		if !reflect.DeepEqual(t.Shape, p.Shape) {
			return bad("tensor %q has shape %v, the model needs %v", p.Name, t.Shape, p.Shape)
		}
		if err := t.Float32Into(p.Data); err != nil {
			return bad("%v", err)
		}
		for i, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return bad("tensor %q holds %v at index %d", p.Name, v, i)
			}
		}
	}
	for _, name := range f.Names() {
		if _, ok := m.params.Get(name); !ok {
			return bad("tensor %q is not a parameter of this model (different architecture?)", name)
		}
	}
	return nil
}

func checkNorm(mean, std []float32, dim int) error {
	if len(mean) != dim || len(std) != dim {
		return fmt.Errorf("state_mean has %d and state_std %d entries, want state_dim = %d each", len(mean), len(std), dim)
	}
	for i := range mean {
		if m := float64(mean[i]); math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("state_mean[%d] = %v, want a finite number", i, m)
		}
		if s := float64(std[i]); !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("state_std[%d] = %v, want a finite number > 0", i, s)
		}
	}
	return nil
}
