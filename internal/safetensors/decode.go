package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/evarl/evarl/internal/limits"
)

// ReadFile reads and validates a safetensors file, without verifying evarl's digests
// (ReadSealed does). Errors name the file; a file larger than the memory limit
// (package limits) is refused before it is read.
func ReadFile(path string) (*File, error) {
	data, err := limits.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ErrFormat is wrapped by every error of Decode (and so of ReadFile and ReadSealed)
// about the bytes of a file, as opposed to an I/O error.
var ErrFormat = errors.New("invalid safetensors file")

// formatError keeps the decoder's message and adds ErrFormat to what it wraps.
type formatError struct{ err error }

func (e formatError) Error() string   { return e.err.Error() }
func (e formatError) Unwrap() []error { return []error{ErrFormat, e.err} }

// Decode parses and validates a whole safetensors file held in data. The returned
// tensors alias data. See the package documentation for what is checked. Errors
// wrap ErrFormat.
func Decode(data []byte) (*File, error) {
	f, err := decode(data)
	if err != nil {
		return nil, formatError{err}
	}
	return f, nil
}

func decode(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n == 0 || n > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d out of range (1..%d)", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after the length field (truncated file?)", n, len(data)-8)
	}
	header := data[8 : 8+n]
	buf := data[8+n:]
	if !utf8.Valid(header) {
		return nil, errors.New("safetensors: header is not valid UTF-8")
	}
	if header[0] != '{' {
		return nil, fmt.Errorf("safetensors: header must start with '{', found %q", header[0])
	}
	meta, infos, err := parseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	f := &File{Metadata: meta, index: map[string]int{}}
	sort.Slice(infos, func(i, j int) bool {
		return infos[i].begin < infos[j].begin || infos[i].begin == infos[j].begin && infos[i].end < infos[j].end
	})
	var pos uint64
	for _, in := range infos {
		if in.begin != pos {
			if in.begin < pos {
				return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] overlap the previous tensor (ends at %d)", in.name, in.begin, in.end, pos)
			}
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] leave a gap after byte %d", in.name, in.begin, in.end, pos)
		}
		if in.end > uint64(len(buf)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] exceed the %d-byte data buffer (truncated file?)", in.name, in.begin, in.end, len(buf))
		}
		pos = in.end
		t := Tensor{Name: in.name, DType: in.dtype, Shape: in.shape, Data: buf[in.begin:in.end:in.end]}
		if err := f.Add(t); err != nil {
			return nil, err
		}
	}
	if pos != uint64(len(buf)) {
		return nil, fmt.Errorf("safetensors: %d trailing bytes after the last tensor (data buffer is %d bytes, tensors cover %d)", uint64(len(buf))-pos, len(buf), pos)
	}
	sort.Slice(f.tensors, func(i, j int) bool { return f.tensors[i].Name < f.tensors[j].Name })
	for i := range f.tensors {
		f.index[f.tensors[i].Name] = i
	}
	return f, nil
}

type tensorInfo struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

// parseHeader walks the JSON with a token decoder rather than unmarshalling into a
// map, so that duplicate keys (which a map would silently collapse) are errors.
func parseHeader(header []byte) (map[string]string, []tensorInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var meta map[string]string
	var infos []tensorInfo
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		if key == MetadataKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", MetadataKey, err)
			}
			continue
		}
		if key == "" {
			return nil, nil, errors.New("empty tensor name")
		}
		in, err := parseInfo(dec, key)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		infos = append(infos, in)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	// Only padding may follow the object.
	rest := header[dec.InputOffset():]
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, nil, fmt.Errorf("unexpected bytes after the JSON object at offset %d", dec.InputOffset())
	}
	return meta, infos, nil
}

func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for dec.More() {
		k, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := meta[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		v, err := stringToken(dec)
		if err != nil {
			return nil, fmt.Errorf("key %q: value must be a string: %w", k, err)
		}
		meta[k] = v
	}
	return meta, expectDelim(dec, '}')
}

func parseInfo(dec *json.Decoder, name string) (tensorInfo, error) {
	in := tensorInfo{name: name}
	if err := expectDelim(dec, '{'); err != nil {
		return in, err
	}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		k, err := stringToken(dec)
		if err != nil {
			return in, err
		}
		switch k {
		case "dtype":
			if haveDType {
				return in, errors.New(`duplicate key "dtype"`)
			}
			haveDType = true
			s, err := stringToken(dec)
			if err != nil {
				return in, fmt.Errorf("dtype: %w", err)
			}
			in.dtype = DType(s)
			if in.dtype.Size() == 0 {
				return in, fmt.Errorf("unsupported dtype %q (want F32, F64 or I64)", s)
			}
		case "shape":
			if haveShape {
				return in, errors.New(`duplicate key "shape"`)
			}
			haveShape = true
			dims, err := uintArray(dec)
			if err != nil {
				return in, fmt.Errorf("shape: %w", err)
			}
			in.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > 1<<40 {
					return in, fmt.Errorf("shape: dimension %d is implausibly large", d)
				}
				in.shape[i] = int(d)
			}
		case "data_offsets":
			if haveOffsets {
				return in, errors.New(`duplicate key "data_offsets"`)
			}
			haveOffsets = true
			offs, err := uintArray(dec)
			if err != nil {
				return in, fmt.Errorf("data_offsets: %w", err)
			}
			if len(offs) != 2 {
				return in, fmt.Errorf("data_offsets: want [begin, end], got %d numbers", len(offs))
			}
			in.begin, in.end = offs[0], offs[1]
		default:
			return in, fmt.Errorf("unknown field %q (want dtype, shape, data_offsets)", k)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return in, err
	}
	switch {
	case !haveDType:
		return in, errors.New("missing dtype")
	case !haveShape:
		return in, errors.New("missing shape")
	case !haveOffsets:
		return in, errors.New("missing data_offsets")
	case in.end < in.begin:
		return in, fmt.Errorf("data_offsets [%d, %d]: end before begin", in.begin, in.end)
	}
	n, ok := elements(in.shape)
	if !ok {
		return in, fmt.Errorf("shape %v is too large", in.shape)
	}
	if want := uint64(n) * uint64(in.dtype.Size()); in.end-in.begin != want {
		return in, fmt.Errorf("data_offsets [%d, %d] span %d bytes, shape %v of %s needs %d", in.begin, in.end, in.end-in.begin, in.shape, in.dtype, want)
	}
	return in, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", jsonErr(err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("expected a string, found %v", tok)
	}
	return s, nil
}

func uintArray(dec *json.Decoder) ([]uint64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	out := []uint64{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("expected a non-negative integer, found %v", tok)
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a non-negative integer, found %s", num)
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

func jsonErr(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("unexpected end of JSON")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}
