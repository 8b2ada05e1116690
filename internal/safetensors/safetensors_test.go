package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fixture builds a file byte by byte from the layout in doc.go: an 8-byte
// little-endian header length, the header text, then the data buffer. It is written
// independently of Encode so that the reader is checked against the format, not
// against this package's own writer.
func fixture(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func f32le(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// A two-tensor file as the reference implementation lays it out: metadata first,
// tensors packed back to back, header padded with spaces.
const goodHeader = `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[3],"data_offsets":[16,28]}}    `

func TestDecodeFixture(t *testing.T) {
	data := fixture(goodHeader, f32le(1, 2, 3, 4, -1.5, 0, 1e-3))
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Metadata, map[string]string{"format": "pt"}; !reflect.DeepEqual(got, want) {
		t.Errorf("metadata = %v, want %v", got, want)
	}
	if got, want := f.Names(), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names = %v, want %v", got, want)
	}
	tests := []struct {
		name  string
		shape []int
		want  []float32
	}{
		{"a", []int{2, 2}, []float32{1, 2, 3, 4}},
		{"b", []int{3}, []float32{-1.5, 0, 1e-3}},
	}
	for _, tc := range tests {
		tn, ok := f.Get(tc.name)
		if !ok {
			t.Fatalf("tensor %q missing", tc.name)
		}
		got, err := tn.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tn.Shape, tc.shape) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, tn.Shape, got, tc.shape, tc.want)
		}
	}
	if _, err := f.Tensors()[0].Float64(); err == nil {
		t.Error("Float64 on an F32 tensor: want an error")
	}
}

func TestDecodeErrors(t *testing.T) {
	okData := f32le(1, 2, 3, 4, 5, 6, 7)
	long := make([]byte, 8)
	binary.LittleEndian.PutUint64(long, MaxHeaderSize+1)
	tests := []struct {
		name string
		file []byte
		want string // substring of the error
	}{
		{"empty", nil, "shorter than the 8-byte"},
		{"short length", []byte{1, 0, 0}, "shorter than the 8-byte"},
		{"zero header", fixture("", nil), "out of range"},
		{"huge header length", long, "out of range"},
		{"truncated header", fixture(goodHeader, okData)[:40], "exceeds"},
		{"truncated data", fixture(goodHeader, okData[:20]), "exceed the 20-byte data buffer"},
		{"trailing bytes", fixture(goodHeader, append(okData, 0, 0, 0, 0)), "trailing bytes"},
		{"not an object", fixture(`["a"]`, nil), "must start with '{'"},
		{"bad json", fixture(`{"a":{"dtype":"F32",}`, nil), "invalid JSON"},
		{"unterminated", fixture(`{"a":{"dtype":"F32"`, nil), "unexpected end"},
		{"junk after object", fixture(`{} x`, nil), "after the JSON object"},
		{"invalid utf8", fixture("{\"\xff\":1}", nil), "UTF-8"},
		{"duplicate tensor", fixture(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32le(1, 2)), `duplicate key "a"`},
		{"duplicate field", fixture(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32le(1)), `duplicate key "dtype"`},
		{"unknown field", fixture(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, f32le(1)), `unknown field "x"`},
		{"unknown dtype", fixture(`{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}`, []byte{0, 0}), `unsupported dtype "BF16"`},
		{"missing offsets", fixture(`{"a":{"dtype":"F32","shape":[1]}}`, nil), "missing data_offsets"},
		{"negative dim", fixture(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32le(1)), "non-negative integer"},
		{"fractional offset", fixture(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}`, f32le(1)), "non-negative integer"},
		{"three offsets", fixture(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, f32le(1)), "want [begin, end]"},
		{"end before begin", fixture(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, f32le(1)), "end before begin"},
		{"size mismatch", fixture(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, f32le(1)), "needs 8"},
		{"overlap", fixture(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32le(1, 2, 3)), "overlap"},
		{"gap", fixture(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, f32le(1, 2, 3)), "gap"},
		{"metadata not strings", fixture(`{"__metadata__":{"k":1}}`, nil), `key "k": value must be a string`},
		{"empty name", fixture(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32le(1)), "empty tensor name"},
		{"overflowing shape", fixture(`{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}`, f32le(1)), "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.file)
			if err == nil {
				t.Fatalf("Decode: no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	f := &File{Metadata: map[string]string{"evarl": "test", "note": "quote \" and ünïcode"}}
	a, _ := NewFloat32("blocks.0.attn.q.weight", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, math.SmallestNonzeroFloat32})
	b, _ := NewFloat64("mean", []int{3}, []float64{0.1, 0.2, -0.3})
	c, _ := NewInt64("step", nil, []int64{-7})
	z, _ := NewFloat32("empty", []int{0, 4}, nil)
	if err := f.Add(a, b, c, z); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(raw); (8+n)%8 != 0 {
		t.Errorf("data buffer starts at %d, want a multiple of 8", 8+n)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Metadata, f.Metadata) {
		t.Errorf("metadata = %v, want %v", g.Metadata, f.Metadata)
	}
	for _, want := range f.Tensors() {
		got, ok := g.Get(want.Name)
		if !ok {
			t.Fatalf("tensor %q missing after round trip", want.Name)
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) && len(want.Shape)+len(got.Shape) > 0 || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %s %v %x, want %s %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
	vs, err := mustGet(t, g, "step").Int64()
	if err != nil || len(vs) != 1 || vs[0] != -7 {
		t.Errorf("step = %v, %v; want [-7]", vs, err)
	}
	dst := make([]float32, 6)
	if err := mustGet(t, g, "blocks.0.attn.q.weight").Float32Into(dst); err != nil || dst[2] != 3.5 {
		t.Errorf("Float32Into = %v, %v", dst, err)
	}
	if err := mustGet(t, g, "blocks.0.attn.q.weight").Float32Into(make([]float32, 5)); err == nil {
		t.Error("Float32Into a 5-element buffer: want an error")
	}
	// Every strict prefix of a valid file is rejected.
	for cut := 0; cut < len(raw); cut++ {
		if _, err := Decode(raw[:cut]); err == nil {
			t.Fatalf("Decode of the first %d of %d bytes succeeded", cut, len(raw))
		}
	}
	// Nothing but the destination is left in the directory.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after WriteFile, want 1", len(entries))
	}
}

func mustGet(t *testing.T, f *File, name string) *Tensor {
	t.Helper()
	tn, ok := f.Get(name)
	if !ok {
		t.Fatalf("tensor %q missing", name)
	}
	return tn
}

func TestAddErrors(t *testing.T) {
	a, _ := NewFloat32("a", []int{1}, []float32{1})
	tests := []struct {
		name string
		t    Tensor
		want string
	}{
		{"duplicate", a, "duplicate tensor"},
		{"reserved", Tensor{Name: MetadataKey, DType: F32, Shape: []int{1}, Data: make([]byte, 4)}, "invalid tensor name"},
		{"bad dtype", Tensor{Name: "x", DType: "U8", Shape: []int{1}, Data: make([]byte, 1)}, "unsupported dtype"},
		{"short data", Tensor{Name: "y", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}, "needs 8"},
	}
	f := &File{}
	if err := f.Add(a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		if err := f.Add(tc.t); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Add error = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewFloat32("s", []int{2, 2}, []float32{1}); err == nil {
		t.Error("NewFloat32 with a mismatched shape: want an error")
	}
}
