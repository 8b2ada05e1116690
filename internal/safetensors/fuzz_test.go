package safetensors

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic or hang, and
// whatever it accepts must survive Encode → Decode unchanged (same metadata, same
// tensors, same digest, same verification outcome). Seeds: testdata/fuzz/FuzzDecode
// and the fixtures below.
func FuzzDecode(f *testing.F) {
	f.Add(fixture(goodHeader, f32le(1, 2, 3, 4, -1.5, 0, 1e-3)))
	f.Add(fixture(`{}`, nil))
	f.Add(fixture(`{"__metadata__":{"evarl_sha256":"00"},"e":{"dtype":"I64","shape":[0,3],"data_offsets":[0,0]}}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decode(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := a.Encode(&buf); err != nil {
			t.Fatalf("Encode of a decoded file: %v", err)
		}
		b, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("Decode of the re-encoded file: %v", err)
		}
		if len(a.Metadata) != len(b.Metadata) {
			t.Fatalf("metadata %v became %v", a.Metadata, b.Metadata)
		}
		for k, v := range a.Metadata {
			if b.Metadata[k] != v {
				t.Fatalf("metadata %q = %q became %q", k, v, b.Metadata[k])
			}
		}
		an, bn := a.Names(), b.Names()
		if len(an) != len(bn) {
			t.Fatalf("tensors %v became %v", an, bn)
		}
		for _, n := range an {
			x, _ := a.Get(n)
			y, ok := b.Get(n)
			if !ok || x.DType != y.DType || len(x.Shape) != len(y.Shape) || !bytes.Equal(x.Data, y.Data) {
				t.Fatalf("tensor %q changed in the round trip", n)
			}
			for i := range x.Shape {
				if x.Shape[i] != y.Shape[i] {
					t.Fatalf("tensor %q: shape %v became %v", n, x.Shape, y.Shape)
				}
			}
		}
		if a.Digest() != b.Digest() || (a.Verify() == nil) != (b.Verify() == nil) {
			t.Fatalf("digest or verification changed in the round trip")
		}
	})
}
