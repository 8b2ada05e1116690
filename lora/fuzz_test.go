package lora

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// encodeConfig writes cfg as adapter_config.json fields, the inverse of
// DecodeConfig for the fields it reads.
func encodeConfig(cfg Config, fp string) ([]byte, error) {
	fc := fileConfig{PeftType: "LORA", R: cfg.R, LoraAlpha: cfg.Alpha, LoraDropout: cfg.Dropout,
		RankPattern: cfg.RankPattern, AlphaPattern: cfg.AlphaPattern, UseRSLoRA: cfg.UseRSLoRA,
		Bias: "none", ModulesToSave: cfg.ModulesToSave, UseDora: cfg.UseDoRA, Fingerprint: fp}
	var err error
	if cfg.TargetRegex != "" {
		fc.TargetModules, err = json.Marshal(cfg.TargetRegex)
	} else {
		fc.TargetModules, err = json.Marshal(cfg.TargetModules)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Init == InitRandom {
		fc.InitLoraWeights = json.RawMessage("true")
	} else if fc.InitLoraWeights, err = json.Marshal(cfg.Init); err != nil {
		return nil, err
	}
	return json.Marshal(fc)
}

// FuzzDecodeConfig feeds arbitrary bytes to the adapter_config.json decoder: no
// panic, no hang, and what it accepts survives encoding and decoding unchanged.
// Seeds: testdata/fuzz/FuzzDecodeConfig (a saved adapter's config, PEFT's own
// format with a regex target).
func FuzzDecodeConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, fp, err := DecodeConfig("adapter_config.json", data)
		if err != nil {
			return
		}
		out, err := encodeConfig(cfg, fp)
		if err != nil {
			t.Fatalf("encoding a decoded config: %v", err)
		}
		again, fp2, err := DecodeConfig("adapter_config.json", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded config: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, again) || fp != fp2 {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}

// FuzzLoad loads arbitrary adapter files (config and weights) onto a small model,
// unverified so that the checks behind the checksums are reached: no panic, no
// hang, no allocation a rank or shape in the files asks for beyond the rank bound,
// and a failed load leaves the base model untouched. Seeds:
// testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, config, weights []byte) {
		os.WriteFile(filepath.Join(dir, ConfigFile), config, 0o644)
		os.WriteFile(filepath.Join(dir, WeightsFile), weights, 0o644)
		base := newToy(5)
		m, err := Load(dir, base, Options{AllowUnverified: true, Rng: rand.New(rand.NewPCG(1, 1))})
		if err != nil {
			for _, l := range base.linears {
				if l.Adapter != nil || !l.W.Trainable() {
					t.Fatalf("a failed Load left %s adapted or frozen: %v", l.Name, err)
				}
			}
			return
		}
		m.Detach()
	})
}
