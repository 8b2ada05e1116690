package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/evarl/evarl/internal/atomicfile"
)

// Encode writes f in the safetensors format. Tensors are laid out widest dtype
// first, then by name, so every tensor starts at a multiple of its element size; the
// header is padded with spaces so the data buffer starts at an 8-byte boundary.
func (f *File) Encode(w io.Writer) error {
	order := make([]*Tensor, len(f.tensors))
	for i := range f.tensors {
		order[i] = &f.tensors[i]
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.DType.Size() != b.DType.Size() {
			return a.DType.Size() > b.DType.Size()
		}
		return a.Name < b.Name
	})

	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	if len(f.Metadata) > 0 {
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		writeString(&h, MetadataKey)
		h.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeString(&h, k)
			h.WriteByte(':')
			writeString(&h, f.Metadata[k])
		}
		h.WriteByte('}')
	}
	var off int
	for _, t := range order {
		sep()
		writeString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeString(&h, string(t.DType))
		h.WriteString(`,"shape":[`)
		for i, s := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(s))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(off))
		h.WriteByte(',')
		off += len(t.Data)
		h.WriteString(strconv.Itoa(off))
		h.WriteString("]}")
	}
	h.WriteByte('}')
	for (8+h.Len())%8 != 0 {
		h.WriteByte(' ')
	}

	var lenField [8]byte
	binary.LittleEndian.PutUint64(lenField[:], uint64(h.Len()))
	if _, err := w.Write(lenField[:]); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	for _, t := range order {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

// WriteFile encodes f to path atomically (package atomicfile): readers see either
// the old file or the complete new one.
func WriteFile(path string, f *File) error {
	return atomicfile.Write(path, f.Encode)
}
