package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// MaxHeaderSize bounds the JSON header (100 MB, the reference implementation's
// limit): a larger length field means a corrupt or hostile file, and refusing it
// early avoids allocating whatever a garbage length asks for.
const MaxHeaderSize = 100 << 20

// MetadataKey is the reserved header key holding the free-form string metadata.
const MetadataKey = "__metadata__"

// DType names an element type as the format spells it.
type DType string

// The element types this package reads and writes.
const (
	F32 DType = "F32"
	F64 DType = "F64"
	I64 DType = "I64"
)

// Size is the element size in bytes, 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// Tensor is one named tensor: its element type, its shape and its raw little-endian
// row-major bytes. Tensors returned by Decode alias the decoded buffer.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Float32 decodes an F32 tensor into a new slice.
func (t *Tensor) Float32() ([]float32, error) {
	out := make([]float32, t.NumElements())
	return out, t.Float32Into(out)
}

// Float32Into decodes an F32 tensor into dst, which must have exactly NumElements
// elements: loading a checkpoint into existing parameter buffers allocates nothing.
func (t *Tensor) Float32Into(dst []float32) error {
	if t.DType != F32 {
		return fmt.Errorf("safetensors: tensor %q has dtype %s, want F32", t.Name, t.DType)
	}
	if len(dst) != t.NumElements() || len(t.Data) != 4*len(dst) {
		return fmt.Errorf("safetensors: tensor %q has %d elements, destination has %d", t.Name, t.NumElements(), len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return nil
}

// Float64 decodes an F64 tensor into a new slice.
func (t *Tensor) Float64() ([]float64, error) {
	if t.DType != F64 {
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s, want F64", t.Name, t.DType)
	}
	out := make([]float64, t.NumElements())
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// Int64 decodes an I64 tensor into a new slice.
func (t *Tensor) Int64() ([]int64, error) {
	if t.DType != I64 {
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s, want I64", t.Name, t.DType)
	}
	out := make([]int64, t.NumElements())
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// NewFloat32 builds an F32 tensor from data (copied) with the given shape. It
// returns an error when the shape does not match len(data).
func NewFloat32(name string, shape []int, data []float32) (Tensor, error) {
	if err := checkShape(name, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: F32, Shape: append([]int{}, shape...), Data: b}, nil
}

// NewFloat64 builds an F64 tensor from data (copied).
func NewFloat64(name string, shape []int, data []float64) (Tensor, error) {
	if err := checkShape(name, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, DType: F64, Shape: append([]int{}, shape...), Data: b}, nil
}

// NewInt64 builds an I64 tensor from data (copied).
func NewInt64(name string, shape []int, data []int64) (Tensor, error) {
	if err := checkShape(name, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: I64, Shape: append([]int{}, shape...), Data: b}, nil
}

func checkShape(name string, shape []int, n int) error {
	prod := 1
	for _, s := range shape {
		if s < 0 {
			return fmt.Errorf("safetensors: tensor %q: shape %v has a negative dimension", name, shape)
		}
		prod *= s
	}
	if prod != n {
		return fmt.Errorf("safetensors: tensor %q: shape %v holds %d elements, data has %d", name, shape, prod, n)
	}
	return nil
}

// File is the content of one safetensors file: string metadata and tensors.
type File struct {
	// Metadata is the "__metadata__" map; nil or empty writes no metadata entry.
	Metadata map[string]string
	tensors  []Tensor
	index    map[string]int
}

// Add appends tensors. A duplicate or empty name, the reserved name, an unknown
// dtype or a byte length that does not match the shape is an error.
func (f *File) Add(ts ...Tensor) error {
	if f.index == nil {
		f.index = map[string]int{}
	}
	for _, t := range ts {
		if t.Name == "" || t.Name == MetadataKey {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := f.index[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		if t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: tensor %q: unsupported dtype %q (want F32, F64 or I64)", t.Name, t.DType)
		}
		n, ok := elements(t.Shape)
		if !ok {
			return fmt.Errorf("safetensors: tensor %q: invalid shape %v", t.Name, t.Shape)
		}
		if len(t.Data) != n*t.DType.Size() {
			return fmt.Errorf("safetensors: tensor %q: %d bytes, shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, n*t.DType.Size())
		}
		f.index[t.Name] = len(f.tensors)
		f.tensors = append(f.tensors, t)
	}
	return nil
}

// Get returns the tensor with the given name.
func (f *File) Get(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.tensors[i], true
}

// Tensors returns the tensors: in the order added, or sorted by name after Decode
// (the slice must not be modified).
func (f *File) Tensors() []Tensor { return f.tensors }

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	out := make([]string, len(f.tensors))
	for i := range f.tensors {
		out[i] = f.tensors[i].Name
	}
	sort.Strings(out)
	return out
}

// elements is the product of shape, with false for a negative dimension or an
// element count that would overflow (a corrupt header).
func elements(shape []int) (int, bool) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return 0, false
		}
		if s != 0 && n > math.MaxInt32*16/s {
			return 0, false
		}
		n *= s
	}
	return n, true
}
