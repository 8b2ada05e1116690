package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
//	                   (e.g. "blocks.0.attn.q.weight"); in its metadata the format
//	                   name and version, the SHA-256 of config.json and the digest of
//	                   the weights file itself (package internal/safetensors, Seal)
//
// Load verifies both digests before it builds anything, so a damaged or edited
// config.json, damaged weights, or a config and weights from different saves are
// errors naming the file; a checkpoint without digests (format version 1, or written
// by another tool) loads only with LoadOptions.AllowUnverified. Both files are
// written to temporary names and renamed, weights first: a crash between the two
// leaves a pair whose digests disagree, which Load reports.
const (
	// CheckpointFormat names the format in both files.
	CheckpointFormat = "evarl-decision-transformer"
	// CheckpointVersion is the format version written. Version 2 seals the files;
	// version 1 (config.json with weights_sha256, nothing covering config.json) is
	// read only with LoadOptions.AllowUnverified.
	CheckpointVersion = 2
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
	// WeightsSHA256 is the hex SHA-256 of model.safetensors in format version 1
	// (verified when present); version 2 records digests in model.safetensors
	// instead and leaves it empty.
	WeightsSHA256 string `json:"weights_sha256,omitempty"`
}

// ErrCheckpoint is wrapped by every error about a checkpoint's content (as opposed to
// an I/O error), so callers can tell a bad file from a missing disk.
var ErrCheckpoint = errors.New("invalid checkpoint")

// Integrity errors, wrapped (with the file named) by Load and lora.Load, matched
// with errors.Is.
var (
	// ErrUnverified: the checkpoint carries no evarl checksum (see
	// LoadOptions.AllowUnverified).
	ErrUnverified = safetensors.ErrUnverified
	// ErrChecksum: a recorded checksum does not match: the file is damaged, was
	// edited, or comes from another save. Never accepted.
	ErrChecksum = safetensors.ErrMismatch
)

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
	meta := CheckpointMeta{
		Format: CheckpointFormat, FormatVersion: CheckpointVersion, EvarlVersion: evarlVersion(),
		Config: m.cfg, StateMean: m.stateMean, StateStd: m.stateStd, ReturnScale: m.cfg.ReturnScale,
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	js = append(js, '\n')
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
	f.Seal(map[string][]byte{ConfigFile: js})
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), f); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), js); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// LoadOptions control LoadWith.
type LoadOptions struct {
	// Rand drives the model's dropout and sampling from then on (nil: a fixed seed),
	// so that a fine-tuning or resumed run draws from its own seeded stream.
	Rand *rand.Rand
	// AllowUnverified loads a checkpoint that carries no evarl checksums: one of
	// format version 1 (its weights_sha256 is still checked) or one assembled by
	// another tool. Checksums that are present are verified regardless: a damaged
	// or edited evarl checkpoint never loads. Re-saving such a checkpoint (Save)
	// seals it in the current format.
	AllowUnverified bool
}

// DecodeCheckpointMeta parses and validates the bytes of a config.json (name is
// used in errors): strict JSON (no unknown fields, one object), the format name, a
// version this build reads, a valid Config whose model fits in memory, and state
// statistics of the right size. It does not check integrity (LoadWith does).
func DecodeCheckpointMeta(name string, raw []byte) (*CheckpointMeta, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("load checkpoint: %s: %w: %s", name, ErrCheckpoint, fmt.Sprintf(format, a...))
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
	case meta.FormatVersion != CheckpointVersion && meta.FormatVersion != 1:
		return nil, bad("format_version = %d, this build reads versions 1 and %d", meta.FormatVersion, CheckpointVersion)
	case meta.FormatVersion == CheckpointVersion && meta.WeightsSHA256 != "":
		return nil, bad("weights_sha256 is set in a version %d checkpoint (version 1 only)", CheckpointVersion)
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

// ReadCheckpointMeta reads, verifies and validates config.json of the checkpoint in
// dir (strictly: see LoadOptions.AllowUnverified), without building the model.
func ReadCheckpointMeta(dir string) (*CheckpointMeta, error) {
	meta, _, err := readCheckpoint(dir, false)
	return meta, err
}

// readCheckpoint reads both files of the checkpoint in dir, verifies their
// checksums and decodes config.json.
func readCheckpoint(dir string, allowUnverified bool) (*CheckpointMeta, *safetensors.Sealed, error) {
	cfgPath, wPath := filepath.Join(dir, ConfigFile), filepath.Join(dir, WeightsFile)
	if _, err := os.Stat(cfgPath); err != nil {
		return nil, nil, fmt.Errorf("load checkpoint: %w", err)
	}
	s, err := safetensors.ReadSealed(wPath, []string{ConfigFile}, safetensors.ReadOptions{AllowUnverified: true})
	if errors.Is(err, os.ErrNotExist) {
		// No weights: a config.json that does not even decode is the first problem.
		if raw, rerr := os.ReadFile(cfgPath); rerr == nil {
			if _, derr := DecodeCheckpointMeta(cfgPath, raw); derr != nil {
				return nil, nil, derr
			}
		}
	}
	if err != nil {
		if errors.Is(err, ErrChecksum) || errors.Is(err, safetensors.ErrFormat) {
			return nil, nil, fmt.Errorf("load checkpoint: %w: %w", ErrCheckpoint, err)
		}
		return nil, nil, fmt.Errorf("load checkpoint: %w", err)
	}
	meta, err := DecodeCheckpointMeta(cfgPath, s.Companions[ConfigFile])
	if err != nil {
		return nil, nil, err
	}
	bad := func(path, format string, a ...any) error {
		return fmt.Errorf("load checkpoint: %s: %w: %s", path, ErrCheckpoint, fmt.Sprintf(format, a...))
	}
	switch {
	case meta.FormatVersion == 1:
		if !allowUnverified {
			return nil, nil, fmt.Errorf("load checkpoint: %s: %w: format version 1 does not checksum %s; load it with AllowUnverified and save it again to seal it in version %d",
				dir, ErrUnverified, ConfigFile, CheckpointVersion)
		}
		if meta.WeightsSHA256 != "" {
			if got := safetensors.SHA256(s.Data); got != meta.WeightsSHA256 {
				return nil, nil, fmt.Errorf("load checkpoint: %s: %w: %w: SHA-256 %s differs from weights_sha256 = %s in %s (corrupted, or not written by the same save)",
					wPath, ErrCheckpoint, ErrChecksum, got, meta.WeightsSHA256, ConfigFile)
			}
		}
	case !s.Verified && !allowUnverified:
		return nil, nil, fmt.Errorf("load checkpoint: %s: %w: %s records no checksums of itself and %s (written by another tool?); load it with AllowUnverified to accept it unchecked",
			dir, ErrUnverified, WeightsFile, ConfigFile)
	}
	if v := s.File.Metadata["format"]; v != CheckpointFormat {
		return nil, nil, bad(wPath, "metadata format = %q, want %q", v, CheckpointFormat)
	}
	if v := s.File.Metadata["format_version"]; v != fmt.Sprint(meta.FormatVersion) {
		return nil, nil, bad(wPath, "metadata format_version = %q, %s says %d", v, ConfigFile, meta.FormatVersion)
	}
	return meta, s, nil
}

// Load rebuilds a model from the checkpoint directory dir on the given Gemm backend,
// strictly (LoadWith with zero LoadOptions).
func Load(dir string, g nn.Gemm) (*Model, error) { return LoadWith(dir, g, LoadOptions{}) }

// LoadRand is Load with the random source that drives the model's dropout and
// sampling (LoadOptions.Rand).
func LoadRand(dir string, g nn.Gemm, rng *rand.Rand) (*Model, error) {
	return LoadWith(dir, g, LoadOptions{Rand: rng})
}

// LoadWith rebuilds a model from the checkpoint directory dir on the given Gemm
// backend. It verifies the checksums of both files, checks the format version, the
// config (and that the model fits in memory, before allocating it), and that the
// weights file holds exactly the model's tensors, each F32 with the model's shape
// and finite values; every error names the file and, where it applies, the field or
// tensor. The model starts in eval mode with every parameter trainable.
func LoadWith(dir string, g nn.Gemm, opts LoadOptions) (*Model, error) {
	meta, s, err := readCheckpoint(dir, opts.AllowUnverified)
	if err != nil {
		return nil, err
	}
	m, err := New(meta.Config, opts.Rand, g)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", dir, err)
	}
	if err := m.SetStateNorm(meta.StateMean, meta.StateStd); err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", dir, err)
	}
	if err := m.setWeights(s.Path, s.File); err != nil {
		return nil, err
	}
	m.SetTrain(false)
	return m, nil
}

// LoadWeights reads a safetensors file into the model's parameters. The file must
// hold exactly the model's parameter names with matching shapes; when it carries an
// evarl digest, the digest is verified (companion files are not: this reads the
// weights alone).
func (m *Model) LoadWeights(path string) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	if f.Sealed() {
		if err := f.Verify(); err != nil {
			return fmt.Errorf("load checkpoint: %s: %w: %w", path, ErrCheckpoint, err)
		}
	}
	return m.setWeights(path, f)
}

// setWeights copies the tensors of f (read from path) into the parameters.
func (m *Model) setWeights(path string, f *safetensors.File) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("load checkpoint: %s: %w: %s", path, ErrCheckpoint, fmt.Sprintf(format, a...))
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
