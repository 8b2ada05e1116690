package policy

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
)

func savedModel(t *testing.T) (*Model, string) {
	t.Helper()
	cfg := tinyConfig(boxed(2, -1, 2), HeadGaussian, ActGELU)
	m, err := New(cfg, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetStateNorm([]float32{1, 2, 3}, []float32{0.5, 1, 2}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return m, dir
}

func TestCheckpointRoundTrip(t *testing.T) {
	m, dir := savedModel(t)
	got, err := Load(dir, nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Training() {
		t.Error("a loaded model should start in eval mode")
	}
	for _, p := range m.Params().All() {
		q, ok := got.Params().Get(p.Name)
		if !ok {
			t.Fatalf("loaded model lacks %s", p.Name)
		}
		for i := range p.Data {
			if p.Data[i] != q.Data[i] {
				t.Fatalf("%s[%d] = %v after the round trip, want %v", p.Name, i, q.Data[i], p.Data[i])
			}
		}
	}
	mean, std := got.StateNorm()
	if mean[2] != 3 || std[0] != 0.5 {
		t.Errorf("state norm = %v / %v after the round trip", mean, std)
	}
	// Same input, same action.
	bt := randomBatch(m.Config(), 2, rand.New(rand.NewPCG(4, 4)))
	a1, a2 := make([]float32, 4), make([]float32, 4)
	if err := m.Act(bt, true, nil, a1); err != nil {
		t.Fatal(err)
	}
	if err := got.Act(bt, true, nil, a2); err != nil {
		t.Fatal(err)
	}
	for i := range a1 {
		if a1[i] != a2[i] {
			t.Errorf("action %d = %v from the loaded model, %v from the saved one", i, a2[i], a1[i])
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("checkpoint directory holds %d files, want 2 (no temporary files left)", len(entries))
	}
}

// rewriteJSON edits config.json through a generic map.
func rewriteJSON(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	out, _ := json.Marshal(v)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteWeights replaces model.safetensors by the saved tensors after edit, sealed
// again with the current config.json (as a hand-assembled checkpoint would be), so
// that the structural checks behind the checksums are the ones tested.
func rewriteWeights(t *testing.T, dir string, edit func(f *safetensors.File) *safetensors.File) {
	t.Helper()
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := edit(f)
	cfg, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	g.Seal(map[string][]byte{ConfigFile: cfg})
	if err := safetensors.WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
}

// reseal seals the weights again with the current config.json.
func reseal(t *testing.T, dir string) {
	t.Helper()
	rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return f })
}

// editConfig rewrites config.json and seals the weights with it: a structurally
// edited checkpoint whose checksums agree.
func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	rewriteJSON(t, dir, edit)
	reseal(t, dir)
}

// without copies f leaving out one tensor and optionally adding others.
func without(f *safetensors.File, drop string, extra ...safetensors.Tensor) *safetensors.File {
	out := &safetensors.File{Metadata: f.Metadata}
	for _, tn := range f.Tensors() {
		if tn.Name != drop {
			out.Add(tn)
		}
	}
	out.Add(extra...)
	return out
}

func TestCheckpointErrors(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		want    []string // substrings of the error: the file and the problem
		is      error    // the error must wrap it (nil: ErrCheckpoint)
	}{
		{"missing config", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ConfigFile)) }, []string{ConfigFile, "no such file"}, os.ErrNotExist},
		{"missing weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, WeightsFile)) }, []string{WeightsFile, "no such file"}, os.ErrNotExist},
		{"config not json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte("{\"format\": "), 0o644)
			reseal(t, dir)
		}, []string{ConfigFile, "unexpected EOF"}, nil},
		{"newer version", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["format_version"] = 3 })
		}, []string{ConfigFile, "format_version = 3"}, nil},
		{"other format", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["format"] = "peft" })
		}, []string{ConfigFile, `format = "peft"`}, nil},
		{"unknown field", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["optimizer"] = 1 })
		}, []string{ConfigFile, `unknown field "optimizer"`}, nil},
		{"bad config", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["config"].(map[string]any)["heads"] = 3 })
		}, []string{ConfigFile, "heads = 3"}, nil},
		{"bad std", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["state_std"] = []float64{1, 0, 1} })
		}, []string{ConfigFile, "state_std[1] = 0"}, nil},
		{"model larger than memory", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["config"].(map[string]any)["embed_dim"] = 1000000 })
		}, []string{ConfigFile, "embed_dim = 1000000", "limit of", "at most"}, nil},
		{"architecture changed", func(t *testing.T, dir string) {
			editConfig(t, dir, func(v map[string]any) { v["config"].(map[string]any)["embed_dim"] = 16 })
		}, []string{WeightsFile, `"embed_timestep.weight" has shape [10 8], the model needs [10 16]`}, nil},
		{"flipped weight", func(t *testing.T, dir string) {
			p := filepath.Join(dir, WeightsFile)
			raw, _ := os.ReadFile(p)
			raw[len(raw)-3] ^= 0x10 // a weight, not the header: only the checksum sees it
			os.WriteFile(p, raw, 0o644)
		}, []string{WeightsFile, "checksum mismatch", "damaged or edited"}, ErrChecksum},
		{"weights of another save", func(t *testing.T, dir string) {
			// (With a byte-identical config.json the other save's weights form a
			// valid checkpoint of their own, and load.)
			m, _ := savedModel(t)
			m.Params().All()[0].Data[0] += 1
			m.SetStateNorm([]float32{0, 0, 0}, []float32{1, 1, 1})
			other := filepath.Join(t.TempDir(), "other")
			if err := m.Save(other); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(other, WeightsFile))
			os.WriteFile(filepath.Join(dir, WeightsFile), raw, 0o644)
		}, []string{ConfigFile, "checksum mismatch", "from another save"}, ErrChecksum},
		{"truncated weights", func(t *testing.T, dir string) {
			p := filepath.Join(dir, WeightsFile)
			raw, _ := os.ReadFile(p)
			os.WriteFile(p, raw[:len(raw)-10], 0o644)
		}, []string{WeightsFile, "(truncated file?)"}, nil},
		{"garbage weights", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, WeightsFile), []byte("not a safetensors file at all"), 0o644)
		}, []string{WeightsFile, "header length"}, nil},
		{"missing tensor", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "blocks.1.mlp.fc.bias") })
		}, []string{WeightsFile, `tensor "blocks.1.mlp.fc.bias" missing`}, nil},
		{"extra tensor", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat32("blocks.2.mlp.fc.bias", []int{1}, []float32{0})
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "", x) })
		}, []string{WeightsFile, `"blocks.2.mlp.fc.bias" is not a parameter`}, nil},
		{"wrong shape", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat32("head.bias", []int{2, 2}, make([]float32, 4))
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "head.bias", x) })
		}, []string{WeightsFile, `"head.bias" has shape [2 2], the model needs [4]`}, nil},
		{"wrong dtype", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat64("head.bias", []int{4}, make([]float64, 4))
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "head.bias", x) })
		}, []string{WeightsFile, `"head.bias" has dtype F64`}, nil},
		{"nan weight", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat32("head.bias", []int{4}, []float32{0, 0, float32(nan()), 0})
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "head.bias", x) })
		}, []string{WeightsFile, `"head.bias" holds NaN at index 2`}, nil},
		{"weights metadata", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File {
				f.Metadata = map[string]string{"format": CheckpointFormat, "format_version": "9"}
				return f
			})
		}, []string{WeightsFile, `format_version = "9"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := savedModel(t)
			tc.corrupt(t, dir)
			_, err := Load(dir, nn.GonumGemm{})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error = %q, want it to contain %q", err, w)
				}
			}
			ioErr := tc.is == os.ErrNotExist
			if errors.Is(err, ErrCheckpoint) == ioErr {
				t.Errorf("Load error %q: errors.Is(err, ErrCheckpoint) = %v, want %v", err, !ioErr, ioErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Load error %q does not wrap %v", err, tc.is)
			}
		})
	}
}

// Edits of config.json that keep it valid (the issue's: state statistics, heads,
// context, activation) are caught by the checksum the weights file records, and so
// is removing that checksum.
func TestCheckpointConfigEditsAreCaught(t *testing.T) {
	edits := []struct {
		name string
		edit func(v map[string]any)
	}{
		{"state_mean", func(v map[string]any) { v["state_mean"].([]any)[0] = 1.5 }},
		{"state_std", func(v map[string]any) { v["state_std"].([]any)[1] = 3.0 }},
		{"heads", func(v map[string]any) { v["config"].(map[string]any)["heads"] = 4 }},
		{"context", func(v map[string]any) { v["config"].(map[string]any)["context"] = 3 }},
		{"activation", func(v map[string]any) { v["config"].(map[string]any)["activation"] = ActReLU }},
		{"whitespace only", func(v map[string]any) {}}, // rewriteJSON drops the indentation
	}
	for _, tc := range edits {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := savedModel(t)
			rewriteJSON(t, dir, tc.edit)
			for _, opts := range []LoadOptions{{}, {AllowUnverified: true}} {
				_, err := LoadWith(dir, nn.GonumGemm{}, opts)
				if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), filepath.Join(dir, ConfigFile)) {
					t.Errorf("%+v: Load error = %v, want ErrChecksum naming %s", opts, err, ConfigFile)
				}
			}
		})
	}
}

// A checkpoint without checksums loads only when the caller says so.
func TestCheckpointUnverified(t *testing.T) {
	strip := func(t *testing.T, dir string, keys ...string) {
		path := filepath.Join(dir, WeightsFile)
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			delete(f.Metadata, k)
		}
		safetensors.WriteFile(path, f)
	}
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"no digest", []string{safetensors.DigestKey}},
		{"no config checksum", []string{safetensors.DigestKey, safetensors.CompanionPrefix + ConfigFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, dir := savedModel(t)
			strip(t, dir, tc.keys...)
			if _, err := Load(dir, nn.GonumGemm{}); !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "AllowUnverified") {
				t.Errorf("strict Load = %v, want ErrUnverified with the option named", err)
			}
			got, err := LoadWith(dir, nn.GonumGemm{}, LoadOptions{AllowUnverified: true})
			if err != nil {
				t.Fatalf("LoadWith(AllowUnverified) = %v", err)
			}
			if p, q := m.Params().All()[3], got.Params().All()[3]; p.Data[0] != q.Data[0] {
				t.Error("weights differ after loading unverified")
			}
		})
	}
}

// A version 1 checkpoint (weights_sha256 in config.json, nothing covering
// config.json) loads under AllowUnverified, its weights checksum still checked.
func TestCheckpointVersion1(t *testing.T) {
	m, dir := savedModel(t)
	writeV1(t, dir)
	if _, err := Load(dir, nn.GonumGemm{}); !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("strict Load of version 1 = %v, want ErrUnverified saying version 1", err)
	}
	got, err := LoadWith(dir, nn.GonumGemm{}, LoadOptions{AllowUnverified: true})
	if err != nil {
		t.Fatalf("version 1 under AllowUnverified: %v", err)
	}
	for i, p := range m.Params().All() {
		if q := got.Params().All()[i]; !equalFloats(p.Data, q.Data) {
			t.Fatalf("%s differs after loading version 1", p.Name)
		}
	}
	// Saving seals it in the current format, with bit-identical weights.
	again := filepath.Join(t.TempDir(), "v2")
	if err := got.Save(again); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(again, nn.GonumGemm{}); err != nil {
		t.Errorf("re-saved checkpoint: %v", err)
	}
	// A flipped weight is still caught through weights_sha256.
	p := filepath.Join(dir, WeightsFile)
	raw, _ := os.ReadFile(p)
	raw[len(raw)-3] ^= 0x10
	os.WriteFile(p, raw, 0o644)
	if _, err := LoadWith(dir, nn.GonumGemm{}, LoadOptions{AllowUnverified: true}); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "weights_sha256") {
		t.Errorf("version 1 with a flipped weight: %v", err)
	}
}

// writeV1 rewrites the checkpoint in dir as format version 1 wrote it.
func writeV1(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata = map[string]string{"format": CheckpointFormat, "format_version": "1"}
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	rewriteJSON(t, dir, func(v map[string]any) {
		v["format_version"] = 1
		v["weights_sha256"] = safetensors.SHA256(raw)
	})
}

func equalFloats(a, b []float32) bool {
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

func nan() float64 { var z float64; return z / z }
