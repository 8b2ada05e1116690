package replay

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/evarl/evarl/internal/limits"
)

// maxDeflateRatio bounds how much a DEFLATE stream can expand (1032:1 is the format's
// limit), so a corrupted size cannot make a reader allocate more than the data allows.
const maxDeflateRatio = 1032

// encoder turns episodes into records. It keeps its buffers and compressor between
// records, so that writing does not allocate per episode beyond the JSON metadata.
type encoder struct {
	compress bool
	raw      []byte        // the raw array part, when compressing
	fw       *flate.Writer // reused through Reset
	out      appendWriter  // where fw writes: the record being built
}

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter struct{ b []byte }

// Write appends p; it never fails.
func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// appendRecord appends ep as one record (header, body, trailer) to dst. ep must be
// valid (Episode.Validate).
func (e *encoder) appendRecord(dst []byte, ep *Episode) ([]byte, error) {
	m := recordMeta{
		EnvID: ep.EnvID, TaskID: ep.TaskID, Options: ep.Options, Seed: ep.Seed, Source: ep.Source,
		Steps: ep.Len(), ObsDim: ep.ObsDim, ActDim: ep.ActDim, StateDim: ep.StateDim,
		Terminated: ep.Terminated, Truncated: ep.Truncated, Success: ep.Success,
	}
	if e.compress {
		m.Encoding = encodingDeflate
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return dst, fmt.Errorf("encode metadata of %s episode: %w", ep.EnvID, err)
	}
	if len(meta) > maxMetaSize {
		return dst, fmt.Errorf("metadata of %s episode is %d bytes, more than the %d allowed (huge options?)", ep.EnvID, len(meta), maxMetaSize)
	}

	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderSize)...) // filled in once the body's length is known
	body := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(meta)))
	dst = append(dst, meta...)
	if !e.compress {
		dst = appendArrays(dst, ep)
	} else {
		e.raw = appendArrays(e.raw[:0], ep)
		e.out.b = dst
		if e.fw == nil {
			if e.fw, err = flate.NewWriter(&e.out, flate.BestSpeed); err != nil {
				return dst[:start], err
			}
		} else {
			e.fw.Reset(&e.out)
		}
		if _, err := e.fw.Write(e.raw); err != nil {
			return dst[:start], err
		}
		if err := e.fw.Close(); err != nil {
			return dst[:start], err
		}
		dst, e.out.b = e.out.b, nil
	}

	h := dst[start:body]
	copy(h, recordTag)
	binary.LittleEndian.PutUint64(h[4:], uint64(len(dst)-body))
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[body:], castagnoli)), nil
}

// appendArrays appends the raw array part of ep: observations, actions and rewards as
// little-endian float32, then states as little-endian float64.
func appendArrays(dst []byte, ep *Episode) []byte {
	dst = appendFloat32s(dst, ep.Observations)
	dst = appendFloat32s(dst, ep.Actions)
	dst = appendFloat32s(dst, ep.Rewards)
	n := len(dst)
	dst = grow(dst, 8*len(ep.States))
	out := dst[n:]
	for i, v := range ep.States {
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(v))
	}
	return dst
}

func appendFloat32s(dst []byte, src []float32) []byte {
	n := len(dst)
	dst = grow(dst, 4*len(src))
	out := dst[n:]
	for i, v := range src {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return dst
}

// grow extends dst by n bytes (contents of the new bytes unspecified).
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		bigger := make([]byte, len(dst), 2*cap(dst)+n)
		copy(bigger, dst)
		dst = bigger
	}
	return dst[:len(dst)+n]
}

// decoder turns record bodies into episodes, keeping its decompression buffer and
// DEFLATE reader between records.
type decoder struct {
	raw []byte
	src bytes.Reader
	fr  io.ReadCloser
}

// decodeBody decodes a record body whose checksum has been verified. When full is
// false only the metadata is decoded and checked (the arrays are left nil), which is
// all that scanning a file before appending needs.
func (d *decoder) decodeBody(body []byte, full bool) (*Episode, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("%w: body is %d bytes, too short for the metadata length", ErrCorrupt, len(body))
	}
	metaLen := int64(binary.LittleEndian.Uint32(body))
	if metaLen > maxMetaSize || 4+metaLen > int64(len(body)) {
		return nil, fmt.Errorf("%w: metadata length %d does not fit in a %d-byte body", ErrCorrupt, metaLen, len(body))
	}
	var m recordMeta
	if err := json.Unmarshal(body[4:4+metaLen], &m); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	if m.Steps < 0 || m.ObsDim <= 0 || m.ActDim <= 0 || m.StateDim < 0 || m.EnvID == "" {
		return nil, fmt.Errorf("%w: metadata has env id %q, %d steps, obs dim %d, action dim %d, state dim %d",
			ErrCorrupt, m.EnvID, m.Steps, m.ObsDim, m.ActDim, m.StateDim)
	}
	stored := body[4+metaLen:]
	want := m.arrayBytes()
	switch m.Encoding {
	case "":
		if want != int64(len(stored)) {
			return nil, fmt.Errorf("%w: %s episode of %d steps (obs %d, action %d, state %d) needs %d array bytes, record has %d",
				ErrCorrupt, m.EnvID, m.Steps, m.ObsDim, m.ActDim, m.StateDim, want, len(stored))
		}
	case encodingDeflate:
		if want < 0 || want > maxDeflateRatio*int64(len(stored))+64 {
			return nil, fmt.Errorf("%w: %s episode of %d steps (obs %d, action %d, state %d) cannot come from %d compressed bytes",
				ErrCorrupt, m.EnvID, m.Steps, m.ObsDim, m.ActDim, m.StateDim, len(stored))
		}
		// The inflated arrays and the decoded episode both live at once.
		if need := 2 * float64(want); need > float64(limits.Memory()) {
			return nil, limits.Check(fmt.Sprintf("steps of the %s episode", m.EnvID), float64(m.Steps), need, "its decompressed arrays")
		}
	default:
		return nil, fmt.Errorf("%w: array encoding %q; this build reads raw and %q", ErrVersion, m.Encoding, encodingDeflate)
	}
	ep := &Episode{
		EnvID: m.EnvID, Options: m.Options, TaskID: m.TaskID, Seed: m.Seed, Source: m.Source,
		ObsDim: m.ObsDim, ActDim: m.ActDim, StateDim: m.StateDim,
		Terminated: m.Terminated, Truncated: m.Truncated, Success: m.Success,
	}
	if !full {
		return ep, nil
	}
	arrays := stored
	if m.Encoding == encodingDeflate {
		var err error
		if arrays, err = d.inflate(stored, want); err != nil {
			return nil, fmt.Errorf("%w: %s episode of %d steps: %v", ErrCorrupt, m.EnvID, m.Steps, err)
		}
	}
	t := m.Steps
	nObs, nAct := (t+1)*m.ObsDim, t*m.ActDim
	// One allocation for the three float32 arrays; full slice expressions keep an
	// append to one from overwriting the next.
	f := make([]float32, nObs+nAct+t)
	decodeFloat32s(f, arrays)
	ep.Observations = f[:nObs:nObs]
	ep.Actions = f[nObs : nObs+nAct : nObs+nAct]
	ep.Rewards = f[nObs+nAct:]
	if m.StateDim > 0 {
		ep.States = make([]float64, (t+1)*m.StateDim)
		src := arrays[4*len(f):]
		src = src[:8*len(ep.States)]
		for i := range ep.States {
			ep.States[i] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
		}
	}
	return ep, nil
}

// inflate decompresses a DEFLATE stream that must hold exactly n bytes.
func (d *decoder) inflate(stored []byte, n int64) ([]byte, error) {
	d.src.Reset(stored)
	if d.fr == nil {
		d.fr = flate.NewReader(&d.src)
	} else if err := d.fr.(flate.Resetter).Reset(&d.src, nil); err != nil {
		return nil, err
	}
	if int64(cap(d.raw)) < n {
		d.raw = make([]byte, n)
	}
	d.raw = d.raw[:n]
	if _, err := io.ReadFull(d.fr, d.raw); err != nil {
		return nil, fmt.Errorf("decompress %d array bytes: %v", n, err)
	}
	var one [1]byte
	if k, _ := d.fr.Read(one[:]); k != 0 {
		return nil, fmt.Errorf("compressed arrays hold more than the %d bytes the metadata implies", n)
	}
	return d.raw, nil
}

// decodeFloat32s fills dst from little-endian float32 bytes in src.
func decodeFloat32s(dst []float32, src []byte) {
	src = src[:4*len(dst)] // one bounds check for the loop
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}
