package eva

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/safetensors"
)

// smallState runs a pass on the fake model (layers q and k share their input there
// only by name; each owns its PCA) and returns the state.
func smallState(t testing.TB, d int) *State {
	t.Helper()
	f := newFakeModel(4, d, 64)
	p, err := NewPass(DefaultConfig(), f.layers(2), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Run(context.Background(), f.next)
	if err != nil {
		t.Fatal(err)
	}
	s.Fingerprint = "sha256:abc"
	return s
}

func TestStateFileIsVerified(t *testing.T) {
	s := smallState(t, 8)
	path := filepath.Join(t.TempDir(), "eva_state.safetensors")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	// Every single-bit flip is refused, naming the file.
	for i := 0; i < len(raw); i += 1 + i/64 {
		b := append([]byte(nil), raw...)
		b[i] ^= 1 << (i % 8)
		os.WriteFile(path, b, 0o644)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("flip at byte %d: Load = %v, want an error naming the file", i, err)
		}
	}
	os.WriteFile(path, raw, 0o644)
	if _, err := Load(path); err != nil {
		t.Fatalf("intact file: %v", err)
	}
}

// A version 1 state (no digest) loads only with AllowUnverified.
func TestStateVersion1(t *testing.T) {
	s := smallState(t, 8)
	path := filepath.Join(t.TempDir(), "v1.safetensors")
	f, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	delete(f.Metadata, safetensors.DigestKey)
	f.Metadata["version"] = "1"
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, safetensors.ErrUnverified) || !strings.Contains(err.Error(), "AllowUnverified") {
		t.Errorf("strict Load of a version 1 state: %v", err)
	}
	got, err := LoadWith(path, LoadOptions{AllowUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Error("version 1 state differs after loading")
	}
}

// Content that is checksummed but wrong (a state assembled by hand and sealed) is
// refused naming the layer or tensor.
func TestStateContentErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(s *State)
		want string
	}{
		{"nan singular value", func(s *State) { s.Layers[0].Singular[1] = math.NaN() }, "singular_values\" holds NaN"},
		{"negative variance", func(s *State) { s.Layers[0].ExplainedVariance[0] = -1 }, "explained_variance\" holds -1"},
		{"rank above components", func(s *State) { s.Layers[0].Rank = s.Layers[0].NComponents + 1 }, "are inconsistent"},
		{"duplicate layer", func(s *State) { s.Layers[1].Name = s.Layers[0].Name }, "appears twice"},
		{"negative rows", func(s *State) { s.Layers[2].Rows = -3 }, "rows -3"},
		{"huge sizes", func(s *State) { s.Layers[0].NComponents, s.Layers[0].DIn = 1<<32, 1<<32 }, "larger than any tensor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smallState(t, 8)
			tc.edit(s)
			path := filepath.Join(t.TempDir(), "s.safetensors")
			f, err := s.encodeUnchecked()
			if err != nil {
				t.Fatal(err)
			}
			if err := safetensors.WriteFile(path, f); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load = %v, want an error naming the file and %q", err, tc.want)
			}
		})
	}
}

// encodeUnchecked is encode for states whose tensors may not match their sizes:
// every tensor is stored with the shape of its data.
func (s *State) encodeUnchecked() (*safetensors.File, error) {
	c := *s
	c.Layers = append([]LayerState(nil), s.Layers...)
	f := &safetensors.File{Metadata: map[string]string{"format": stateFormat, "version": stateVersion}}
	for _, l := range c.Layers {
		if l.Owner != "" || l.NComponents > 1<<20 {
			continue
		}
		for suffix, data := range map[string][]float64{"components": l.Components, "singular_values": l.Singular,
			"explained_variance": l.ExplainedVariance, "explained_variance_ratio": l.ExplainedVarianceRatio} {
			tt, err := safetensors.NewFloat64(l.Name+"."+suffix, []int{len(data)}, data)
			if err != nil {
				return nil, err
			}
			f.Add(tt)
		}
	}
	meta, err := jsonMarshal(&c)
	if err != nil {
		return nil, err
	}
	f.Metadata["state"] = meta
	f.Seal(nil)
	return f, nil
}

// FuzzDecodeState feeds arbitrary bytes, as an EVA state file, to the decoder: no
// panic, no hang, no allocation its sizes ask for beyond what the file holds, and
// what it accepts survives encoding and decoding unchanged. Seeds:
// testdata/fuzz/FuzzDecodeState.
func FuzzDecodeState(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := safetensors.Decode(data)
		if err != nil {
			return
		}
		s, err := decodeState("state", sf)
		if err != nil {
			return
		}
		for i := range s.Layers {
			s.Layers[i].LoraA(true) // must not panic
			s.Layers[i].ExplainedShare()
		}
		g, err := s.encode()
		if err != nil {
			t.Fatalf("encoding a decoded state: %v", err)
		}
		var buf bytes.Buffer
		if err := g.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		sf2, err := safetensors.Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("decoding the re-encoded file: %v", err)
		}
		again, err := decodeState("state", sf2)
		if err != nil {
			t.Fatalf("decoding the re-encoded state: %v", err)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip changed the state")
		}
	})
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
