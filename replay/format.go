package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/evarl/evarl/envs"
)

// The on-disk layout is described in docs/dataset-format.md; the constants below are
// its single source of truth in code.
const (
	// Magic opens every episode file. Like PNG's signature, the high first byte and
	// the CR LF / ^Z bytes catch files mangled by text-mode transfers.
	Magic = "\x89EVRL\r\n\x1a"
	// Version is the format version this package writes and the newest it reads.
	Version uint32 = 1

	headerSize       = 16 // magic (8) + version (4) + crc32c of the previous 12 bytes (4)
	recordHeaderSize = 16 // tag (4) + body length (8) + crc32c of the previous 12 bytes (4)
	trailerSize      = 4  // crc32c of the body
	recordTag        = "EPIS"

	// maxMetaSize bounds the JSON metadata of one record; a larger value can only be
	// corruption, and the bound keeps a bad length from allocating gigabytes.
	maxMetaSize = 1 << 20
)

// castagnoli is the CRC32C table; hash/crc32 uses the SSE4.2 / ARMv8 instruction for
// it, so checksumming costs far less than reading the bytes.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors, matched with errors.Is; the errors returned wrap them with the file
// name, the record index and the byte offset (see FormatError).
var (
	// ErrNotEpisodeFile: the file does not start with Magic.
	ErrNotEpisodeFile = errors.New("not an evarl episode file")
	// ErrVersion: the file was written by a newer format version.
	ErrVersion = errors.New("unsupported format version")
	// ErrCorrupt: a checksum, tag or length does not match; the data cannot be trusted.
	ErrCorrupt = errors.New("corrupted")
	// ErrTruncated: the file ends inside a record, as after a crash while writing.
	// Every record before it is intact (see Options.AllowTruncatedTail).
	ErrTruncated = errors.New("truncated")
	// ErrEmpty: the file holds no episodes.
	ErrEmpty = errors.New("no episodes")
	// ErrDims: an episode's observation or action size differs from the dataset's.
	ErrDims = errors.New("dimensions disagree")
)

// FormatError reports a problem at a place in an episode file.
type FormatError struct {
	// Path is the file name.
	Path string
	// Record is the 0-based index of the record, or -1 for the file header.
	Record int
	// Offset is the byte offset of the start of the record (or header).
	Offset int64
	// Err describes the problem; it wraps one of the sentinel errors.
	Err error
}

// Error says where the problem is: file, record index and byte offset.
func (e *FormatError) Error() string {
	if e.Record < 0 {
		return fmt.Sprintf("replay: %s: header: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("replay: %s: record %d at byte %d: %v", e.Path, e.Record, e.Offset, e.Err)
}

// Unwrap gives errors.Is access to the sentinel error.
func (e *FormatError) Unwrap() error { return e.Err }

// TruncatedError is the error of a file whose last record is incomplete or torn —
// what a crash during collection leaves — with every record before it intact. It
// wraps the *FormatError saying where (and so ErrTruncated). Its message ends in a
// remedy: by default the Go options that accept such a file; a command-line tool
// replaces it with its own flag through WithRemedy, so that its users are told what
// they can type.
type TruncatedError struct {
	*FormatError
	// Intact is the number of complete episodes before the damaged record.
	Intact int
	// Remedy says how to use the intact episodes.
	Remedy string
}

// Remedies of the Go API, the defaults of TruncatedError.Remedy.
const (
	RemedyOpen   = "open with Options.AllowTruncatedTail to use them, or append with WriteOptions.AllowTruncatedTail to cut the tail off and continue"
	RemedyAppend = "append with WriteOptions.AllowTruncatedTail to cut the tail off and continue"
)

// Error says where the file is damaged, how many episodes are intact and what to do.
func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%v; the %d episodes before it are intact: %s", e.FormatError, e.Intact, e.Remedy)
}

// Unwrap gives errors.Is and errors.As access to the *FormatError and its sentinel.
func (e *TruncatedError) Unwrap() error { return e.FormatError }

// WithRemedy returns a copy of e whose message ends in remedy instead (e.g. "pass
// --allow-truncated to use them").
func (e *TruncatedError) WithRemedy(remedy string) *TruncatedError {
	c := *e
	c.Remedy = remedy
	return &c
}

// recordMeta is the JSON part of a record: everything about an episode except its
// arrays. Steps and the dimensions let the reader check the array part's length.
type recordMeta struct {
	EnvID      string       `json:"env_id"`
	TaskID     string       `json:"task_id,omitempty"`
	Options    envs.Options `json:"options,omitempty"`
	Seed       int64        `json:"seed"`
	Source     string       `json:"source,omitempty"`
	Steps      int          `json:"steps"`
	ObsDim     int          `json:"obs_dim"`
	ActDim     int          `json:"act_dim"`
	StateDim   int          `json:"state_dim,omitempty"`
	Terminated bool         `json:"terminated"`
	Truncated  bool         `json:"truncated"`
	Success    bool         `json:"success,omitempty"`
	// Encoding is how the array part is stored: "" (raw) or "deflate".
	Encoding string `json:"encoding,omitempty"`
}

// encodingDeflate marks an array part compressed with DEFLATE (RFC 1951).
const encodingDeflate = "deflate"

// arrayBytes is the size of the raw array part of a record described by m, or −1
// when the sizes are so large that they can only be corruption (no overflow).
func (m *recordMeta) arrayBytes() int64 {
	t := float64(m.Steps)
	if est := 4*((t+1)*float64(m.ObsDim)+t*float64(m.ActDim)+t) + 8*(t+1)*float64(m.StateDim); est > 1<<50 {
		return -1
	}
	n := int64(m.Steps)
	return 4*((n+1)*int64(m.ObsDim)+n*int64(m.ActDim)+n) + 8*(n+1)*int64(m.StateDim)
}

// appendHeader appends the file header to dst.
func appendHeader(dst []byte, version uint32) []byte {
	start := len(dst)
	dst = append(dst, Magic...)
	dst = binary.LittleEndian.AppendUint32(dst, version)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// checkHeader validates the first headerSize bytes of a file.
func checkHeader(h []byte) error {
	if len(h) < headerSize {
		n := min(len(h), len(Magic))
		if string(h[:n]) == Magic[:n] {
			return fmt.Errorf("%w: file is %d bytes, shorter than the %d-byte header", ErrTruncated, len(h), headerSize)
		}
		return fmt.Errorf("%w: file is %d bytes and does not start with the magic %q", ErrNotEpisodeFile, len(h), Magic)
	}
	if string(h[:len(Magic)]) != Magic {
		return fmt.Errorf("%w: first bytes are %q, want %q", ErrNotEpisodeFile, h[:len(Magic)], Magic)
	}
	stored := binary.LittleEndian.Uint32(h[12:16])
	if got := crc32.Checksum(h[:12], castagnoli); got != stored {
		return fmt.Errorf("%w: header checksum %08x, stored %08x", ErrCorrupt, got, stored)
	}
	if v := binary.LittleEndian.Uint32(h[8:12]); v != Version {
		return fmt.Errorf("%w: file has version %d, this build reads version %d (newer evarl needed?)", ErrVersion, v, Version)
	}
	return nil
}
