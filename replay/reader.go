package replay

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/evarl/evarl/internal/limits"
)

// Options control how Open reads an episode file. The zero value is strict.
type Options struct {
	// AllowTruncatedTail accepts a file whose last record is incomplete or torn (the
	// file ends inside it, it is zero-filled, or its checksum fails and it reaches the
	// end of the file) — what a crash during collection leaves. The complete records
	// before it are returned and Dataset.DroppedBytes says how much was ignored. A
	// damaged record followed by valid data is always an error.
	AllowTruncatedTail bool
	// AllowEmpty accepts a file with no episodes; otherwise that is an error wrapping
	// ErrEmpty, because training on nothing is never what was meant.
	AllowEmpty bool
}

// Open reads the whole episode file at path (one read, then decoding in memory) and
// returns its episodes. Errors name the file and, for problems inside it, the record
// index and byte offset (*FormatError wrapping ErrNotEpisodeFile, ErrVersion,
// ErrCorrupt, ErrTruncated, ErrEmpty or ErrDims; a torn last record is a
// *TruncatedError). A file, or a decoded dataset, larger than the memory limit
// (package internal/limits) is an error before it is allocated.
func Open(path string, opts Options) (*Dataset, error) {
	data, err := limits.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: open dataset: %w", err)
	}
	return Decode(path, data, opts)
}

// Decode is Open for a file already in memory; name is used in errors and as the
// dataset's Path. The episodes do not alias data.
func Decode(name string, data []byte, opts Options) (*Dataset, error) {
	res, err := scan(name, data, true)
	if err != nil {
		return nil, err
	}
	if res.tail != nil && !opts.AllowTruncatedTail {
		return nil, &TruncatedError{FormatError: res.tail, Intact: len(res.episodes), Remedy: RemedyOpen}
	}
	if len(res.episodes) == 0 && !opts.AllowEmpty {
		return nil, &FormatError{Path: name, Record: -1, Err: fmt.Errorf("%w: the file holds a header and nothing else", ErrEmpty)}
	}
	ds, err := NewDataset(res.episodes)
	if err != nil {
		return nil, fmt.Errorf("replay: %s: %w", name, err)
	}
	ds.Path = name
	ds.DroppedBytes = int64(len(data)) - res.end
	return ds, nil
}

// scanResult is what scan found in a file.
type scanResult struct {
	episodes       []*Episode
	obsDim, actDim int
	// end is the offset just past the last valid record: where an appender writes.
	end int64
	// tail is non-nil when the file ends in an incomplete or torn record.
	tail *FormatError
}

// scan walks the records of data, verifying every checksum and that all episodes
// share the first one's observation and action sizes. With full it decodes the
// arrays too; without, only the metadata (enough to append). Damage in the middle is
// returned as an error; damage confined to the last record is reported in tail.
func scan(name string, data []byte, full bool) (scanResult, error) {
	var res scanResult
	if err := checkHeader(data); err != nil {
		return res, &FormatError{Path: name, Record: -1, Err: err}
	}
	off := int64(headerSize)
	size := int64(len(data))
	var dec decoder
	var decoded float64 // bytes of episodes decoded so far
	for i := 0; off < size; i++ {
		fail := func(err error) *FormatError { return &FormatError{Path: name, Record: i, Offset: off, Err: err} }
		rem := size - off
		if rem < recordHeaderSize {
			res.tail = fail(fmt.Errorf("%w: the file ends %d bytes into the %d-byte record header", ErrTruncated, rem, recordHeaderSize))
			break
		}
		h := data[off : off+recordHeaderSize]
		stored := binary.LittleEndian.Uint32(h[12:])
		if string(h[:4]) != recordTag || crc32.Checksum(h[:12], castagnoli) != stored {
			if allZero(data[off:]) {
				res.tail = fail(fmt.Errorf("%w: the last %d bytes are zeros (space allocated but never written before a crash)", ErrTruncated, rem))
				break
			}
			return res, fail(fmt.Errorf("%w: bad record header (tag %q, checksum %08x, stored %08x)", ErrCorrupt, h[:4], crc32.Checksum(h[:12], castagnoli), stored))
		}
		bodyLen := binary.LittleEndian.Uint64(h[4:12])
		if bodyLen > uint64(size) || int64(bodyLen) > rem-recordHeaderSize-trailerSize {
			res.tail = fail(fmt.Errorf("%w: the record needs %d bytes, the file ends after %d", ErrTruncated, uint64(recordHeaderSize+trailerSize)+bodyLen, rem))
			break
		}
		bodyStart := off + recordHeaderSize
		body := data[bodyStart : bodyStart+int64(bodyLen)]
		end := bodyStart + int64(bodyLen) + trailerSize
		want := binary.LittleEndian.Uint32(data[end-trailerSize : end])
		if got := crc32.Checksum(body, castagnoli); got != want {
			if end == size {
				res.tail = fail(fmt.Errorf("%w: the last record's checksum %08x does not match the stored %08x (%w: a write cut short by a crash, or damage)", ErrCorrupt, got, want, ErrTruncated))
				break
			}
			return res, fail(fmt.Errorf("%w: body checksum %08x does not match the stored %08x", ErrCorrupt, got, want))
		}
		ep, err := dec.decodeBody(body, full)
		if err != nil {
			return res, fail(err)
		}
		if full {
			decoded += float64(ep.bytes())
			if err := limits.Check("decoded episodes", float64(i+1), decoded, "the episodes decoded so far (DEFLATE-compressed records expand)"); err != nil {
				return res, fail(err)
			}
		}
		if len(res.episodes) == 0 {
			res.obsDim, res.actDim = ep.ObsDim, ep.ActDim
		} else if ep.ObsDim != res.obsDim || ep.ActDim != res.actDim {
			return res, fail(fmt.Errorf("%w: %s episode has obs dim %d and action dim %d, the file's first episode has %d and %d",
				ErrDims, ep.EnvID, ep.ObsDim, ep.ActDim, res.obsDim, res.actDim))
		}
		ep.File, ep.Index = name, i
		res.episodes = append(res.episodes, ep)
		off = end
	}
	res.end = off // at a break, off is where the damaged tail starts
	return res, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
