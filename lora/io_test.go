package lora

import (
	"encoding/json"
	"errors"
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
	m, err := Apply(newToy(5), toyConfig(), Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
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
	m, err := Apply(newToy(5), toyConfig(), Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
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

	// edit changes the config and seals the weights again, so that the checks
	// behind the checksums are the ones tested.
	edit := func(t *testing.T, change func(map[string]any)) string {
		t.Helper()
		d := copyAdapter(t, dir)
		editConfig(t, d, change)
		reseal(t, d)
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
			c["rank_pattern"] = map[string]any{"head": 2}
		}, "head.lora_A.weight\" missing"},
		{"dora without magnitudes", func(c map[string]any) { c["use_dora"] = true }, `attn.q.lora_magnitude_vector" missing`},
		{"not lora", func(c map[string]any) { c["peft_type"] = "IA3" }, "peft_type"},
		{"bad alpha", func(c map[string]any) { c["lora_alpha"] = -1 }, "alpha = -1"},
		{"huge rank", func(c map[string]any) { c["r"] = 1000000000000 }, "r = 1000000000000 exceeds 2·max(in, out) = 16"},
		{"huge rank pattern", func(c map[string]any) { c["rank_pattern"] = map[string]any{"mlp.fc": 100000} }, "blocks.0.mlp.fc (in 8, out 16): r = 100000"},
		{"fingerprint removed", func(c map[string]any) { delete(c, "base_model_fingerprint") }, "no base_model_fingerprint"},
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
	if _, err := Load(t.TempDir(), newToy(5), Options{}); err == nil || !strings.Contains(err.Error(), "is not an adapter directory (want "+ConfigFile) {
		t.Fatalf("empty dir: error %v", err)
	}
	// A policy checkpoint given as the adapter is named as one.
	ckpt := t.TempDir()
	if err := os.WriteFile(filepath.Join(ckpt, policyWeightsFile), []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ckpt, newToy(5), Options{}); err == nil || !strings.Contains(err.Error(), "holds a policy checkpoint, not an adapter") {
		t.Fatalf("a checkpoint directory: error %v", err)
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
	js := `{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "all-linear", "use_dora": true, "modules_to_save": ["head"]}`
	cfg, _, err := DecodeConfig(ConfigFile, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TargetRegex != "" || len(cfg.TargetModules) != 1 || cfg.TargetModules[0] != PresetAllLinear || !cfg.UseDoRA || cfg.ModulesToSave[0] != "head" {
		t.Errorf("read %+v", cfg)
	}
}

// copyAdapter copies the adapter files of dir into a new directory.
func copyAdapter(t *testing.T, dir string) string {
	t.Helper()
	d := t.TempDir()
	for _, n := range []string{ConfigFile, WeightsFile} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, n), b, 0o644)
	}
	return d
}

// editConfig rewrites adapter_config.json through a generic map (checksums left
// as they were).
func editConfig(t *testing.T, dir string, change func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, ConfigFile)
	b, _ := os.ReadFile(p)
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	change(cfg)
	b, _ = json.Marshal(cfg)
	os.WriteFile(p, b, 0o644)
}

// reseal seals the weights file of dir again with its current config, or strips
// the checksums when strip is set.
func reseal(t *testing.T, dir string, strip ...bool) {
	t.Helper()
	p := filepath.Join(dir, WeightsFile)
	f, err := safetensors.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for k := range f.Metadata {
		if strings.HasPrefix(k, "evarl_") {
			delete(f.Metadata, k)
		}
	}
	if len(strip) == 0 || !strip[0] {
		cfg, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		f.Seal(map[string][]byte{ConfigFile: cfg})
	}
	if err := safetensors.WriteFile(p, f); err != nil {
		t.Fatal(err)
	}
}

// Every corrupted adapter file is refused: random byte damage of either file, and
// every single-bit flip of adapter_config.json. (Before adapters were sealed, 52
// of 80 corrupted files loaded silently.)
func TestCorruptAdapterFilesAreRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	m, err := Apply(newToy(5), toyConfig(), Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir, "base"); err != nil {
		t.Fatal(err)
	}
	orig := map[string][]byte{}
	for _, n := range []string{ConfigFile, WeightsFile} {
		orig[n], _ = os.ReadFile(filepath.Join(dir, n))
	}
	d := copyAdapter(t, dir)
	base := newToy(5)
	try := func(t *testing.T, name string, data []byte, n int) {
		t.Helper()
		os.WriteFile(filepath.Join(d, name), data, 0o644)
		defer os.WriteFile(filepath.Join(d, name), orig[name], 0o644)
		opts := Options{AllowUnverified: n%2 == 1} // damage is refused either way
		if _, err := Load(d, base, opts); err == nil {
			t.Fatalf("%s damaged (%d): Load(%+v) succeeded", name, n, opts)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s damaged: error %q does not name the file", name, err)
		}
	}
	cfg := orig[ConfigFile]
	for i := range cfg {
		b := append([]byte(nil), cfg...)
		b[i] ^= 1 << (i % 8)
		try(t, ConfigFile, b, i)
	}
	for trial := 0; trial < 300; trial++ {
		name := []string{ConfigFile, WeightsFile}[trial%2]
		b := append([]byte(nil), orig[name]...)
		for k := 1 + rng.IntN(3); k > 0; k-- {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		try(t, name, b, trial/2)
	}
}

// An adapter without checksums (as PEFT writes it) loads only when the caller says
// it is foreign; its fingerprint, when present, is still checked.
func TestUnverifiedAdapters(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	m, err := Apply(newToy(5), toyConfig(), Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir, "base"); err != nil {
		t.Fatal(err)
	}
	foreign := copyAdapter(t, dir)
	reseal(t, foreign, true)
	_, err = Load(foreign, newToy(5), Options{})
	if !errors.Is(err, safetensors.ErrUnverified) || !strings.Contains(err.Error(), "AllowUnverified") || !strings.Contains(err.Error(), WeightsFile) {
		t.Errorf("strict Load of an unsealed adapter: %v", err)
	}
	if _, err := Load(foreign, newToy(5), Options{AllowUnverified: true}); err != nil {
		t.Errorf("Load(AllowUnverified) of an unsealed adapter: %v", err)
	}
	if _, err := Load(foreign, newToy(6), Options{AllowUnverified: true}); err == nil || !strings.Contains(err.Error(), "trained on base model") {
		t.Errorf("unsealed adapter onto another base: %v", err)
	}
	// Without checksums and without a fingerprint, only shapes can be checked.
	editConfig(t, foreign, func(c map[string]any) { delete(c, "base_model_fingerprint") })
	if _, err := Load(foreign, newToy(5), Options{AllowUnverified: true}); err != nil {
		t.Errorf("PEFT-like adapter without fingerprint: %v", err)
	}
	// Removing the fingerprint from a sealed adapter breaks its checksum.
	nofp := copyAdapter(t, dir)
	editConfig(t, nofp, func(c map[string]any) { delete(c, "base_model_fingerprint") })
	for _, opts := range []Options{{}, {AllowUnverified: true}} {
		if _, err := Load(nofp, newToy(6), opts); !errors.Is(err, safetensors.ErrMismatch) {
			t.Errorf("fingerprint removed, %+v: %v, want a checksum mismatch", opts, err)
		}
	}
}

func TestFingerprintMismatchShowsTheDifference(t *testing.T) {
	a := "sha256:0123456789abcdef" + strings.Repeat("0", 48)
	b := "sha256:0123456789abcdef" + strings.Repeat("0", 20) + "1" + strings.Repeat("0", 27)
	msg := fingerprintMismatch(a, b)
	wantA, wantB := a[:51]+"…", b[:51]+"…" // 8 characters past the common prefix
	if !strings.Contains(msg, wantA) || !strings.Contains(msg, wantB) || !strings.Contains(msg, "character 44") {
		t.Errorf("message %q: want %q and %q and the first differing character (44)", msg, wantA, wantB)
	}
	if msg := fingerprintMismatch("sha256:aa", "sha256:ab"); !strings.Contains(msg, "sha256:aa,") || !strings.Contains(msg, "sha256:ab (") {
		t.Errorf("short fingerprints: %q", msg)
	}
}

func TestRankBounds(t *testing.T) {
	cfg := toyConfig()
	cfg.R = 100000
	_, err := Apply(newToy(5), cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err == nil || !strings.Contains(err.Error(), "r = 100000 exceeds max(in, out) = 8") {
		t.Errorf("r = 100000 on 8-wide layers: %v", err)
	}
	cfg.R = 8 // = max(in, out) of q, the narrowest target
	if _, err := Apply(newToy(5), cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))}); err != nil {
		t.Errorf("r = min(in, out): %v", err)
	}
}
