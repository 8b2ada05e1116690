package agents

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
)

// FuzzDecodeTrainState feeds arbitrary bytes to the trainer_state.json decoder: no
// panic, no hang, and what it accepts survives encoding and decoding unchanged.
// Seeds: testdata/fuzz/FuzzDecodeTrainState.
func FuzzDecodeTrainState(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeTrainState("trainer_state.json", data)
		if err != nil {
			return
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("encoding a decoded state: %v", err)
		}
		again, err := DecodeTrainState("trainer_state.json", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded state: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(st, again) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", st, again)
		}
	})
}

// FuzzDecodeOptimizer feeds arbitrary bytes, as an optimizer.safetensors, to the
// optimizer-state decoder: no panic, no hang, and what it accepts survives encoding
// and decoding unchanged. Seeds: testdata/fuzz/FuzzDecodeOptimizer.
func FuzzDecodeOptimizer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := safetensors.Decode(data)
		if err != nil {
			return
		}
		opt, err := decodeOptimizer("optimizer.safetensors", sf)
		if err != nil {
			return
		}
		g, err := encodeOptimizer(opt)
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
		again, err := decodeOptimizer("optimizer.safetensors", sf2)
		if err != nil {
			t.Fatalf("decoding the re-encoded state: %v", err)
		}
		// Decode sorts tensors by name; compare by name.
		byName := func(s []*nn.Param) map[string]*nn.Param {
			m := map[string]*nn.Param{}
			for _, p := range s {
				m[p.Name] = p
			}
			return m
		}
		if opt.Step != again.Step || !reflect.DeepEqual(byName(opt.Tensors), byName(again.Tensors)) {
			t.Fatalf("round trip changed the optimizer state")
		}
	})
}
