package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeCheckpointMeta feeds arbitrary bytes to the config.json decoder: no
// panic, no hang, no allocation beyond the input (sizes are bounded by Validate),
// and whatever it accepts survives encoding and decoding again unchanged. Seeds:
// the shipped checkpoints' config.json (testdata/fuzz/FuzzDecodeCheckpointMeta).
func FuzzDecodeCheckpointMeta(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		meta, err := DecodeCheckpointMeta("config.json", data)
		if err != nil {
			return
		}
		out, err := json.Marshal(meta)
		if err != nil {
			t.Fatalf("Marshal of a decoded config: %v", err)
		}
		again, err := DecodeCheckpointMeta("config.json", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded config: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(meta, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", meta, again)
		}
	})
}
