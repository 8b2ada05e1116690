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

// rewriteWeights replaces model.safetensors by the saved tensors after edit, and
// drops the checksum from config.json (as in a hand-assembled checkpoint) so that the
// structural checks behind it are the ones tested.
func rewriteWeights(t *testing.T, dir string, edit func(f *safetensors.File) *safetensors.File) {
	t.Helper()
	dropSum(t, dir)
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.WriteFile(path, edit(f)); err != nil {
		t.Fatal(err)
	}
}

func dropSum(t *testing.T, dir string) {
	rewriteJSON(t, dir, func(v map[string]any) { delete(v, "weights_sha256") })
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
	}{
		{"missing config", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ConfigFile)) }, []string{ConfigFile, "no such file"}},
		{"missing weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, WeightsFile)) }, []string{WeightsFile, "no such file"}},
		{"config not json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte("{\"format\": "), 0o644)
		}, []string{ConfigFile, "unexpected EOF"}},
		{"newer version", func(t *testing.T, dir string) {
			rewriteJSON(t, dir, func(v map[string]any) { v["format_version"] = 2 })
		}, []string{ConfigFile, "format_version = 2"}},
		{"other format", func(t *testing.T, dir string) {
			rewriteJSON(t, dir, func(v map[string]any) { v["format"] = "peft" })
		}, []string{ConfigFile, `format = "peft"`}},
		{"unknown field", func(t *testing.T, dir string) {
			rewriteJSON(t, dir, func(v map[string]any) { v["optimizer"] = 1 })
		}, []string{ConfigFile, `unknown field "optimizer"`}},
		{"bad config", func(t *testing.T, dir string) {
			rewriteJSON(t, dir, func(v map[string]any) { v["config"].(map[string]any)["heads"] = 3 })
		}, []string{ConfigFile, "heads = 3"}},
		{"bad std", func(t *testing.T, dir string) {
			rewriteJSON(t, dir, func(v map[string]any) { v["state_std"] = []float64{1, 0, 1} })
		}, []string{ConfigFile, "state_std[1] = 0"}},
		{"architecture changed", func(t *testing.T, dir string) {
			rewriteJSON(t, dir, func(v map[string]any) { v["config"].(map[string]any)["embed_dim"] = 16 })
		}, []string{WeightsFile, `"embed_timestep.weight" has shape [10 8], the model needs [10 16]`}},
		{"flipped byte", func(t *testing.T, dir string) {
			p := filepath.Join(dir, WeightsFile)
			raw, _ := os.ReadFile(p)
			raw[len(raw)-3] ^= 0x10 // a weight, not the header: only the checksum sees it
			os.WriteFile(p, raw, 0o644)
		}, []string{WeightsFile, "differs from weights_sha256"}},
		{"weights of another save", func(t *testing.T, dir string) {
			m, _ := savedModel(t)
			m.Params().All()[0].Data[0] += 1
			other := filepath.Join(t.TempDir(), "other")
			if err := m.Save(other); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(other, WeightsFile))
			os.WriteFile(filepath.Join(dir, WeightsFile), raw, 0o644)
		}, []string{WeightsFile, "differs from weights_sha256"}},
		{"truncated weights", func(t *testing.T, dir string) {
			dropSum(t, dir)
			p := filepath.Join(dir, WeightsFile)
			raw, _ := os.ReadFile(p)
			os.WriteFile(p, raw[:len(raw)-10], 0o644)
		}, []string{WeightsFile, "(truncated file?)"}},
		{"garbage weights", func(t *testing.T, dir string) {
			dropSum(t, dir)
			os.WriteFile(filepath.Join(dir, WeightsFile), []byte("not a safetensors file at all"), 0o644)
		}, []string{WeightsFile, "header length"}},
		{"missing tensor", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "blocks.1.mlp.fc.bias") })
		}, []string{WeightsFile, `tensor "blocks.1.mlp.fc.bias" missing`}},
		{"extra tensor", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat32("blocks.2.mlp.fc.bias", []int{1}, []float32{0})
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "", x) })
		}, []string{WeightsFile, `"blocks.2.mlp.fc.bias" is not a parameter`}},
		{"wrong shape", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat32("head.bias", []int{2, 2}, make([]float32, 4))
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "head.bias", x) })
		}, []string{WeightsFile, `"head.bias" has shape [2 2], the model needs [4]`}},
		{"wrong dtype", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat64("head.bias", []int{4}, make([]float64, 4))
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "head.bias", x) })
		}, []string{WeightsFile, `"head.bias" has dtype F64`}},
		{"nan weight", func(t *testing.T, dir string) {
			x, _ := safetensors.NewFloat32("head.bias", []int{4}, []float32{0, 0, float32(nan()), 0})
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File { return without(f, "head.bias", x) })
		}, []string{WeightsFile, `"head.bias" holds NaN at index 2`}},
		{"weights metadata", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(f *safetensors.File) *safetensors.File {
				f.Metadata = map[string]string{"format": CheckpointFormat, "format_version": "9"}
				return f
			})
		}, []string{WeightsFile, `format_version = "9"`}},
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
			ioErr := tc.name == "missing config" || tc.name == "missing weights"
			if errors.Is(err, ErrCheckpoint) == ioErr {
				t.Errorf("Load error %q: errors.Is(err, ErrCheckpoint) = %v, want %v", err, !ioErr, ioErr)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }
