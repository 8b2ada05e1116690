package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/safetensors"
)

// File names inside an adapter directory, as PEFT's save_pretrained writes them.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
	// TensorPrefix starts every tensor name, as in PEFT files
	// ("base_model.model.blocks.0.attn.q.lora_A.weight").
	TensorPrefix = "base_model.model."
)

// fileConfig is adapter_config.json: PEFT's LoraConfig fields that matter here, plus
// evarl's base_model_fingerprint. Unknown PEFT fields in a file are ignored.
type fileConfig struct {
	PeftType        string             `json:"peft_type"`
	TaskType        *string            `json:"task_type"`
	BaseModel       string             `json:"base_model_name_or_path"`
	R               int                `json:"r"`
	LoraAlpha       float64            `json:"lora_alpha"`
	LoraDropout     float64            `json:"lora_dropout"`
	TargetModules   json.RawMessage    `json:"target_modules"`
	RankPattern     map[string]int     `json:"rank_pattern"`
	AlphaPattern    map[string]float64 `json:"alpha_pattern"`
	UseRSLoRA       bool               `json:"use_rslora"`
	InitLoraWeights json.RawMessage    `json:"init_lora_weights"`
	Bias            string             `json:"bias"`
	FanInFanOut     bool               `json:"fan_in_fan_out"`
	UseDora         bool               `json:"use_dora"`
	ModulesToSave   []string           `json:"modules_to_save"`
	InferenceMode   bool               `json:"inference_mode"`
	Fingerprint     string             `json:"base_model_fingerprint,omitempty"`
}

// Save writes the adapters to dir as PEFT does: adapter_config.json and
// adapter_model.safetensors, F32 tensors named as PEFT names them:
//
//	base_model.model.<layer>.lora_A.weight            (r, in)   Linear
//	base_model.model.<layer>.lora_B.weight            (out, r)
//	base_model.model.<table>.lora_embedding_A         (r, N)    embedding table
//	base_model.model.<table>.lora_embedding_B         (C, r)
//	base_model.model.<layer>.lora_magnitude_vector    (out) or (C), DoRA only
//	base_model.model.<module>.weight, .bias           modules_to_save
//
// The config is written resolved: the adapted layers by full name in
// target_modules, the fully trained modules by full name in modules_to_save, and
// per-layer rank and alpha where they differ from r and alpha, so the file reads the
// same in PEFT. baseName goes into base_model_name_or_path.
//
// PiSSA and OLoRA adapters are saved converted (PEFT's
// path_initial_model_for_weight_conversion): their base weight holds the residual
// W − scale·B₀A₀, so the file stores A' = [A; A₀], B' = [B, −B₀] with rank 2r and
// alpha doubled (×√2 under rsLoRA), an ordinary adapter for the unmodified base.
// Both files are written to temporary names and renamed; the weights file is sealed
// (docs/file-integrity.md): its metadata records the SHA-256 of adapter_config.json
// and a digest of its own content, which PEFT ignores and Load verifies.
func (m *Model) Save(dir, baseName string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lora: save: %w", err)
	}
	if len(m.Adapters)+len(m.Embeddings) == 0 {
		return fmt.Errorf("lora: save %s: no adapters (every target layer has rank 0)", dir)
	}
	cfg := m.Config
	fc := fileConfig{
		PeftType: "LORA", BaseModel: baseName, R: cfg.R, LoraAlpha: cfg.Alpha, LoraDropout: cfg.Dropout,
		RankPattern: map[string]int{}, AlphaPattern: map[string]float64{}, UseRSLoRA: cfg.UseRSLoRA,
		Bias: "none", InferenceMode: true, Fingerprint: m.fingerprint,
	}
	initName := cfg.Init
	f := &safetensors.File{Metadata: map[string]string{"format": "pt"}}
	var targets []string
	add := func(name string, shape []int, data []float32) error {
		t, err := safetensors.NewFloat32(TensorPrefix+name, shape, data)
		if err == nil {
			err = f.Add(t)
		}
		if err != nil {
			return fmt.Errorf("lora: save %s: %w", dir, err)
		}
		return nil
	}
	for _, lr := range m.lowRanks() {
		name := lr.name
		targets = append(targets, name)
		r, alpha := lr.r, lr.alpha
		A, B := lr.a.Data, lr.b.Data
		if lr.a0 != nil {
			A, B = lr.convertResidual()
			r *= 2
			if cfg.UseRSLoRA {
				alpha *= math.Sqrt2
			} else {
				alpha *= 2
			}
			initName = InitRandom
		}
		if r != cfg.R {
			fc.RankPattern[name] = r
		}
		if alpha != cfg.Alpha {
			fc.AlphaPattern[name] = alpha
		}
		an, bn := tensorNames(name, lr.table)
		if err := add(an, []int{r, lr.in}, A); err != nil {
			return err
		}
		if err := add(bn, []int{lr.out, r}, B); err != nil {
			return err
		}
		if lr.m != nil {
			if err := add(name+".lora_magnitude_vector", []int{lr.out}, lr.m.Data); err != nil {
				return err
			}
		}
	}
	for _, p := range m.saved {
		if err := add(p.Name, p.Shape, p.Data); err != nil {
			return err
		}
	}
	fc.ModulesToSave = m.SavedModules()
	fc.UseDora = cfg.UseDoRA
	fc.TargetModules, _ = json.Marshal(targets)
	if initName == InitRandom {
		fc.InitLoraWeights = json.RawMessage("true")
	} else {
		fc.InitLoraWeights, _ = json.Marshal(initName)
	}
	js, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		return fmt.Errorf("lora: save %s: %w", dir, err)
	}
	js = append(js, '\n')
	f.Seal(map[string][]byte{ConfigFile: js})
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), f); err != nil {
		return fmt.Errorf("lora: save: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), js); err != nil {
		return fmt.Errorf("lora: save: %w", err)
	}
	return nil
}

// tensorNames returns the names of A and B as PEFT's state dict has them: Linear
// layers hold lora_A/lora_B modules (".weight"), embedding tables the parameters
// lora_embedding_A/B.
func tensorNames(layer string, table bool) (a, b string) {
	if table {
		return layer + ".lora_embedding_A", layer + ".lora_embedding_B"
	}
	return layer + ".lora_A.weight", layer + ".lora_B.weight"
}

// DecodeConfig parses the bytes of an adapter_config.json (path is used in errors)
// into a Config (init is "random" unless the file names another method) and returns
// the recorded base-model fingerprint ("" when absent). It checks the fields evarl
// supports and validates the config; it does not check integrity (Load does).
func DecodeConfig(path string, data []byte) (Config, string, error) {
	var fc fileConfig
	if err := json.Unmarshal(data, &fc); err != nil {
		return Config{}, "", fmt.Errorf("lora: %s: %w", path, err)
	}
	switch {
	case fc.PeftType != "LORA":
		return Config{}, "", fmt.Errorf("lora: %s: peft_type %q: want \"LORA\"", path, fc.PeftType)
	case fc.FanInFanOut:
		return Config{}, "", fmt.Errorf("lora: %s: fan_in_fan_out = true: want false (weights stored (out, in))", path)
	case fc.Bias != "" && fc.Bias != "none":
		return Config{}, "", fmt.Errorf("lora: %s: bias %q: only \"none\" is supported", path, fc.Bias)
	}
	cfg := Config{R: fc.R, Alpha: fc.LoraAlpha, Dropout: fc.LoraDropout, RankPattern: fc.RankPattern,
		AlphaPattern: fc.AlphaPattern, UseRSLoRA: fc.UseRSLoRA, UseDoRA: fc.UseDora, Init: InitRandom, ModulesToSave: fc.ModulesToSave}
	tm := bytes.TrimSpace(fc.TargetModules)
	switch {
	case len(tm) > 0 && tm[0] == '"':
		if err := json.Unmarshal(tm, &cfg.TargetRegex); err != nil {
			return Config{}, "", fmt.Errorf("lora: %s: target_modules: %w", path, err)
		}
		if cfg.TargetRegex == PresetAllLinear { // PEFT's shorthand, not a regex
			cfg.TargetRegex, cfg.TargetModules = "", []string{PresetAllLinear}
		}
	case len(tm) > 0 && tm[0] == '[':
		if err := json.Unmarshal(tm, &cfg.TargetModules); err != nil {
			return Config{}, "", fmt.Errorf("lora: %s: target_modules: %w", path, err)
		}
	default:
		return Config{}, "", fmt.Errorf("lora: %s: target_modules %s: want a list of names or a regular expression", path, tm)
	}
	var initName string
	if json.Unmarshal(fc.InitLoraWeights, &initName) == nil {
		cfg.Init = initName
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, "", fmt.Errorf("lora: %s: %w", path, err)
	}
	return cfg, fc.Fingerprint, nil
}

// ReadConfig reads the adapter in dir far enough to return its Config and recorded
// base-model fingerprint: adapter_config.json, verified against the checksums in
// adapter_model.safetensors (strictly; Load with Options.AllowUnverified accepts
// foreign adapters).
func ReadConfig(dir string) (Config, string, error) {
	_, cfg, fp, err := readAdapter(dir, false)
	return cfg, fp, err
}

// policyWeightsFile is policy.WeightsFile, the weights of a whole checkpoint, which
// an adapter path sometimes names by mistake (lora does not import policy).
const policyWeightsFile = "model.safetensors"

// readAdapter reads both files of the adapter in dir, verifies their checksums and
// decodes the config.
func readAdapter(dir string, allowUnverified bool) (*safetensors.Sealed, Config, string, error) {
	cfgPath, wPath := filepath.Join(dir, ConfigFile), filepath.Join(dir, WeightsFile)
	if _, err := os.Stat(cfgPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, perr := os.Stat(filepath.Join(dir, policyWeightsFile)); perr == nil {
				return nil, Config{}, "", fmt.Errorf("lora: %s holds a policy checkpoint, not an adapter (%s and %s, as the best/ or last/ of a lora, pissa, olora or eva run hold them): %w", dir, ConfigFile, WeightsFile, err)
			}
			if _, derr := os.Stat(dir); derr != nil {
				return nil, Config{}, "", fmt.Errorf("lora: adapter %s: %w", dir, derr)
			}
			return nil, Config{}, "", fmt.Errorf("lora: %s is not an adapter directory (want %s and %s, as the best/ or last/ of a lora, pissa, olora or eva run hold them): %w", dir, ConfigFile, WeightsFile, err)
		}
		return nil, Config{}, "", fmt.Errorf("lora: %w", err)
	}
	s, err := safetensors.ReadSealed(wPath, []string{ConfigFile}, safetensors.ReadOptions{AllowUnverified: allowUnverified})
	if err != nil {
		if errors.Is(err, safetensors.ErrUnverified) {
			return nil, Config{}, "", fmt.Errorf("lora: %w; an adapter saved by PEFT or by an older evarl loads with AllowUnverified", err)
		}
		return nil, Config{}, "", fmt.Errorf("lora: %w", err)
	}
	cfg, fp, err := DecodeConfig(cfgPath, s.Companions[ConfigFile])
	if err != nil {
		return nil, Config{}, "", err
	}
	if s.Verified && fp == "" {
		return nil, Config{}, "", fmt.Errorf("lora: %s: no base_model_fingerprint, which evarl always records: the file was not written by evarl's Save", cfgPath)
	}
	return s, cfg, fp, nil
}

// Load attaches the adapters saved in dir to base. Both files are verified first
// (the checksums adapter_model.safetensors records of itself and of
// adapter_config.json; a file without them loads only with opt.AllowUnverified). The
// base must be the model they were trained on (same fingerprint; an evarl adapter
// always records one) and every tensor must be present with the shape the config
// implies, each rank at most 2·min(in, out) of its layer (see checkRank); any
// mismatch is an error naming the file and tensor, and leaves base untouched.
// opt.Rng seeds dropout when the config has dropout.
func Load(dir string, base Base, opt Options) (*Model, error) {
	s, cfg, fp, err := readAdapter(dir, opt.AllowUnverified)
	if err != nil {
		return nil, err
	}
	if fp != "" {
		if got := Fingerprint(base.Params()); got != fp {
			return nil, fmt.Errorf("lora: %s was trained on base model %s: load the checkpoint the adapter was made for", dir, fingerprintMismatch(fp, got))
		}
	}
	path, f := s.Path, s.File
	m, err := attach(base, cfg, opt.Rng, 2)
	if err != nil {
		return nil, fmt.Errorf("lora: %s: %w", dir, err)
	}
	type dest struct {
		name  string
		shape []int
		dst   []float32
		what  string
	}
	var dests []dest
	for _, lr := range m.lowRanks() {
		what := fmt.Sprintf("the config and the base layer (in %d, out %d, r %d)", lr.in, lr.out, lr.r)
		if lr.table {
			what = fmt.Sprintf("the config and the base table (%d rows, %d channels, r %d)", lr.in, lr.out, lr.r)
		}
		an, bn := tensorNames(lr.name, lr.table)
		dests = append(dests,
			dest{TensorPrefix + an, []int{lr.r, lr.in}, lr.a.Data, what},
			dest{TensorPrefix + bn, []int{lr.out, lr.r}, lr.b.Data, what})
		if lr.m != nil {
			dests = append(dests, dest{TensorPrefix + lr.name + ".lora_magnitude_vector", []int{lr.out}, lr.m.Data, what + " with use_dora"})
		}
	}
	for _, p := range m.saved {
		dests = append(dests, dest{TensorPrefix + p.Name, p.Shape, p.Data, "the base parameter (modules_to_save)"})
	}
	used := map[string]bool{}
	for _, d := range dests {
		t, ok := f.Get(d.name)
		if !ok {
			m.rollback()
			return nil, fmt.Errorf("lora: %s: tensor %q missing", path, d.name)
		}
		if !equalShape(t.Shape, d.shape) {
			m.rollback()
			return nil, fmt.Errorf("lora: %s: tensor %q has shape %v; %s needs %v", path, d.name, t.Shape, d.what, d.shape)
		}
		vals, err := t.Float32()
		if err == nil {
			for i, v := range vals {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					err = fmt.Errorf("element %d is %v", i, v)
					break
				}
			}
		}
		if err != nil {
			m.rollback()
			return nil, fmt.Errorf("lora: %s: tensor %q: %w", path, d.name, err)
		}
		copy(d.dst, vals)
		used[d.name] = true
	}
	var extra []string
	for _, n := range f.Names() {
		if !used[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		m.rollback()
		sort.Strings(extra)
		return nil, fmt.Errorf("lora: %s: tensors %s match no adapter of this config and model", path, strings.Join(extra, ", "))
	}
	return m, nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fingerprintMismatch shows two fingerprints far enough to see where they differ:
// both cut at the same length, at least 8 characters past their common prefix (a
// fixed cut can show two different fingerprints as equal).
func fingerprintMismatch(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	n := max(i+8, len("sha256:")+12)
	cut := func(s string) string {
		if len(s) > n {
			return s[:n] + "…"
		}
		return s
	}
	return fmt.Sprintf("%s, but this model is %s (they differ from character %d on)", cut(want), cut(got), i+1)
}
