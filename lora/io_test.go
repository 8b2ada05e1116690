package lora

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/safetensors"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, init := range []string{InitRandom, InitPiSSA, InitOLoRA} {
		t.Run(init, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			base := newToy(5)
			x := randRows(rng, 4*8)
			cfg := toyConfig()
			cfg.R, cfg.Alpha, cfg.Init = 4, 8, init
			cfg.RankPattern = map[string]int{"mlp.proj": 2}
			cfg.AlphaPattern = map[string]float64{"attn.q": 3}
			m, err := Apply(base, cfg, Options{Rng: rng})
			if err != nil {
				t.Fatal(err)
			}
			perturbB(m, rng) // "training"
			want := base.forward(x, 4)
			dir := filepath.Join(t.TempDir(), "adapter")
			if err := m.Save(dir, "ckpt/pretrained"); err != nil {
				t.Fatal(err)
			}

			// Load onto a fresh copy of the original base model.
			fresh := newToy(5)
			got, err := Load(dir, fresh, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(fresh.forward(x, 4), want); d > 1e-5 {
				t.Errorf("loaded adapter output differs by %v", d)
			}
			if len(got.Adapters) != 3 {
				t.Fatalf("%d adapters loaded, want 3", len(got.Adapters))
			}
			wantR := map[string]int{"blocks.0.attn.q": 4, "blocks.0.mlp.fc": 4, "blocks.0.mlp.proj": 2}
			for _, a := range got.Adapters {
				r := wantR[a.Layer.Name]
				if init != InitRandom {
					r *= 2 // converted residual adapters
				}
				if a.R != r {
					t.Errorf("%s: rank %d, want %d", a.Layer.Name, a.R, r)
				}
			}
			if init == InitRandom && got.Adapters[0].Scale != 3.0/4 {
				t.Errorf("q scale %v, want alpha_pattern 3 / r 4", got.Adapters[0].Scale)
			}
		})
	}
}

func TestAdapterFilesArePEFTShaped(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, _ := Apply(newToy(5), toyConfig(), Options{Rng: rng})
	dir := t.TempDir()
	if err := m.Save(dir, "base"); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"peft_type": "LORA", "r": 8.0, "lora_alpha": 8.0, "init_lora_weights": true, "bias": "none"} {
		if cfg[k] != want {
			t.Errorf("adapter_config.json %s = %v, want %v", k, cfg[k], want)
		}
	}
	f, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"base_model.model.blocks.0.attn.q.lora_A.weight", "base_model.model.blocks.0.attn.q.lora_B.weight",
		"base_model.model.blocks.0.mlp.fc.lora_A.weight", "base_model.model.blocks.0.mlp.fc.lora_B.weight",
		"base_model.model.blocks.0.mlp.proj.lora_A.weight", "base_model.model.blocks.0.mlp.proj.lora_B.weight",
	}
	if got := f.Names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tensors %v, want %v", got, want)
	}
	if tt, _ := f.Get(want[5]); tt.Shape[0] != 8 || tt.Shape[1] != 8 {
		t.Errorf("proj lora_B shape %v, want [out 8, r 8]", tt.Shape)
	}
}

func TestLoadRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m, _ := Apply(newToy(5), toyConfig(), Options{Rng: rng})
	dir := t.TempDir()
	if err := m.Save(dir, "base"); err != nil {
		t.Fatal(err)
	}
	// Another base model.
	other := newToy(6)
	if _, err := Load(dir, other, Options{}); err == nil || !strings.Contains(err.Error(), "trained on base model") {
		t.Fatalf("other base: error %v", err)
	}
	for _, l := range other.linears {
		if l.Adapter != nil || !l.W.Trainable() {
			t.Fatalf("rejected load touched %s", l.Name)
		}
	}

	edit := func(t *testing.T, change func(map[string]any)) string {
		t.Helper()
		d := t.TempDir()
		for _, n := range []string{ConfigFile, WeightsFile} {
			b, _ := os.ReadFile(filepath.Join(dir, n))
			if n == ConfigFile {
				var cfg map[string]any
				json.Unmarshal(b, &cfg)
				change(cfg)
				b, _ = json.Marshal(cfg)
			}
			os.WriteFile(filepath.Join(d, n), b, 0o644)
		}
		return d
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"wrong rank", func(c map[string]any) { c["r"] = 4 }, "has shape [8 8]"},
		{"unknown layer", func(c map[string]any) { c["target_modules"] = []string{"blocks.0.attn.q"} }, "match no adapter"},
		{"missing layer", func(c map[string]any) {
			c["target_modules"] = []string{"blocks.0.attn.q", "blocks.0.mlp.fc", "blocks.0.mlp.proj", "head"}
		}, "head.lora_A.weight\" missing"},
		{"dora without magnitudes", func(c map[string]any) { c["use_dora"] = true }, `attn.q.lora_magnitude_vector" missing`},
		{"not lora", func(c map[string]any) { c["peft_type"] = "IA3" }, "peft_type"},
		{"bad alpha", func(c map[string]any) { c["lora_alpha"] = -1 }, "alpha = -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := edit(t, tt.change)
			base := newToy(5)
			_, err := Load(d, base, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			for _, l := range base.linears {
				if l.Adapter != nil || !l.W.Trainable() {
					t.Fatalf("rejected load left %s adapted or frozen", l.Name)
				}
			}
		})
	}
	if _, err := Load(t.TempDir(), newToy(5), Options{}); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Fatalf("empty dir: error %v", err)
	}
}

func TestModulesToSave(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	base := newToy(5)
	head := base.linears[3]
	orig := append([]float32(nil), head.W.Data...)
	cfg := toyConfig()
	cfg.ModulesToSave = []string{"head"}
	m, err := Apply(base, cfg, Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range base.Params().All() {
		if want := strings.HasPrefix(p.Name, "head."); p.Trainable() != want {
			t.Errorf("%s trainable %v, want %v", p.Name, p.Trainable(), want)
		}
	}
	if _, ok := m.Params().Get("head.weight"); !ok {
		t.Error("head.weight not among the trainable parameters")
	}
	// "Train" the head and the adapters, save, and load onto a fresh base.
	perturbB(m, rng)
	for i := range head.W.Data {
		head.W.Data[i] += 0.1
	}
	x := randRows(rng, 3*8)
	want := base.forward(x, 3)
	dir := t.TempDir()
	if err := m.Save(dir, "base"); err != nil {
		t.Fatal(err)
	}
	fresh := newToy(5)
	if _, err := Load(dir, fresh, Options{}); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(fresh.forward(x, 3), want); d > 1e-6 {
		t.Errorf("loaded adapter with modules_to_save differs by %v", d)
	}
	m.Detach()
	if d := maxAbsDiff(head.W.Data, orig); d != 0 {
		t.Errorf("Detach left the head %v from its original", d)
	}
	cfg.ModulesToSave = []string{"nothing"}
	if _, err := Apply(newToy(5), cfg, Options{Rng: rng}); err == nil || !strings.Contains(err.Error(), "modules_to_save") {
		t.Errorf("unmatched modules_to_save: error %v", err)
	}
}

// PEFT writes target_modules: "all-linear" as a string; it is the preset, not a
// regular expression.
func TestReadConfigAllLinearShorthand(t *testing.T) {
	dir := t.TempDir()
	js := `{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "all-linear", "use_dora": true, "modules_to_save": ["head"]}`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TargetRegex != "" || len(cfg.TargetModules) != 1 || cfg.TargetModules[0] != PresetAllLinear || !cfg.UseDoRA || cfg.ModulesToSave[0] != "head" {
		t.Errorf("read %+v", cfg)
	}
}
