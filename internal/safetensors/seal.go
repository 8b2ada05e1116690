package safetensors

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evarl/evarl/internal/limits"
)

// Integrity. Every safetensors file evarl writes is sealed: its metadata carries a
// SHA-256 digest of its own content and of the files that belong with it (the JSON
// beside it: config.json, adapter_config.json, trainer_state.json; an online replay
// buffer), so that a reader can tell a file evarl wrote, intact, from one that was
// damaged, edited, mixed with another save's, or written by another tool. The
// digests live in the "__metadata__" string map, which the safetensors format
// reserves for free-form strings and every reader (Python safetensors, PEFT, the
// Hugging Face hub) ignores, so sealed files stay ordinary safetensors files and
// the JSON companions stay exactly what PEFT and Hugging Face expect.
const (
	// DigestKey holds the hex SHA-256 of the file's canonical content (see Digest).
	DigestKey = "evarl_sha256"
	// CompanionPrefix + a file name holds the hex SHA-256 of that file's bytes, a
	// file in the same directory (e.g. "evarl_sha256:config.json").
	CompanionPrefix = "evarl_sha256:"
)

// Errors of verification, matched with errors.Is; the errors returned name the file.
var (
	// ErrUnverified: the file carries no evarl digest (written by another tool, or
	// by evarl before it sealed files), or does not record a companion's digest.
	ErrUnverified = errors.New("no evarl checksum")
	// ErrMismatch: a recorded digest does not match the content: the file (or its
	// companion) is damaged, was edited, or comes from another save.
	ErrMismatch = errors.New("checksum mismatch")
)

// digestDomain starts the hashed stream, naming the scheme and its version.
const digestDomain = "evarl safetensors digest v1\x00"

// Digest is the hex SHA-256 of f's canonical content: every metadata entry but
// DigestKey (sorted by key), then every tensor (sorted by name) with its dtype, shape
// and bytes. It depends on what the file holds, not on how it is laid out (tensor
// order, offsets, header padding), so another writer that keeps the metadata keeps
// the digest valid, while any change of a value, a name, a shape or a metadata
// entry changes it. Strings and arrays are length-prefixed (little-endian uint64),
// so no two contents hash the same stream.
func (f *File) Digest() string {
	h := sha256.New()
	h.Write([]byte(digestDomain))
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		if k != DigestKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	writeUint(h, uint64(len(keys)))
	for _, k := range keys {
		writeStr(h, k)
		writeStr(h, f.Metadata[k])
	}
	ts := make([]*Tensor, len(f.tensors))
	for i := range f.tensors {
		ts[i] = &f.tensors[i]
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	writeUint(h, uint64(len(ts)))
	for _, t := range ts {
		writeStr(h, t.Name)
		writeStr(h, string(t.DType))
		writeUint(h, uint64(len(t.Shape)))
		for _, d := range t.Shape {
			writeUint(h, uint64(d))
		}
		writeUint(h, uint64(len(t.Data)))
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeUint(h hash.Hash, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	h.Write(b[:])
}

func writeStr(h hash.Hash, s string) {
	writeUint(h, uint64(len(s)))
	h.Write([]byte(s))
}

// SHA256 is the hex SHA-256 of data, as companions are recorded.
func SHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Seal records the digest of each companion (file name → its exact bytes) and then
// f's own digest in f.Metadata (allocated if nil). Call it last, after every
// tensor and metadata entry is in place.
func (f *File) Seal(companions map[string][]byte) {
	if f.Metadata == nil {
		f.Metadata = map[string]string{}
	}
	for name, data := range companions {
		f.Metadata[CompanionPrefix+name] = SHA256(data)
	}
	f.Metadata[DigestKey] = f.Digest()
}

// Sealed reports whether f carries a digest.
func (f *File) Sealed() bool {
	_, ok := f.Metadata[DigestKey]
	return ok
}

// Verify checks f's digest. A missing digest is an error wrapping ErrUnverified; a
// wrong one wraps ErrMismatch.
func (f *File) Verify() error {
	want, ok := f.Metadata[DigestKey]
	if !ok {
		return fmt.Errorf("%w: no %q in the metadata (not written by evarl, or by a version before files were sealed)", ErrUnverified, DigestKey)
	}
	if got := f.Digest(); got != want {
		return fmt.Errorf("%w: the content has SHA-256 %s, the file recorded %s (damaged or edited)", ErrMismatch, got, want)
	}
	return nil
}

// VerifyCompanion checks that data is the companion file name that f recorded. It
// does not check f itself (Verify does).
func (f *File) VerifyCompanion(name string, data []byte) error {
	return f.verifyCompanion(name, data, "the safetensors file beside it")
}

func (f *File) verifyCompanion(name string, data []byte, recorder string) error {
	want, ok := f.Metadata[CompanionPrefix+name]
	if !ok {
		return fmt.Errorf("%w: %s records no %q", ErrUnverified, recorder, CompanionPrefix+name)
	}
	if got := SHA256(data); got != want {
		return fmt.Errorf("%w: its SHA-256 is %s, %s recorded %s (edited, damaged, or from another save)", ErrMismatch, got, recorder, want)
	}
	return nil
}

// Companions lists the file names whose digests f records, sorted.
func (f *File) Companions() []string {
	var out []string
	for k := range f.Metadata {
		if name, ok := strings.CutPrefix(k, CompanionPrefix); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// ReadOptions control ReadSealed.
type ReadOptions struct {
	// AllowUnverified accepts files that carry no evarl digest: files from another
	// tool (a PEFT adapter saved in Python), or from evarl before it sealed files.
	// Digests that are present are verified all the same, so this never lets a
	// damaged evarl file through; it only admits files that cannot be checked.
	AllowUnverified bool
}

// Sealed is a safetensors file read together with its companions.
type Sealed struct {
	// File is the decoded safetensors file; Path its name.
	File *File
	Path string
	// Data is the file's bytes (File's tensors alias it).
	Data []byte
	// Companions holds the bytes of each companion file, by name.
	Companions map[string][]byte
	// Verified reports that the file and every companion matched recorded digests
	// (false only under AllowUnverified, for a file without digests).
	Verified bool
}

// ReadSealed reads the safetensors file at path and the companion files named in
// need (in the same directory), and verifies them: the file's own digest, the digest
// of every companion in need, and of every other companion the file records (read
// from beside it too), so that a sealed set of files is checked whole. Errors name
// the file that failed and wrap ErrUnverified (a digest missing: an error unless
// opts.AllowUnverified) or ErrMismatch (always an error). Files larger than the
// memory limit (package limits) are refused before they are read.
func ReadSealed(path string, need []string, opts ReadOptions) (*Sealed, error) {
	data, err := limits.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Sealed{File: f, Path: path, Data: data, Companions: map[string][]byte{}, Verified: true}
	dir := filepath.Dir(path)
	names := append(append([]string(nil), need...), f.Companions()...)
	for _, name := range names {
		if _, done := s.Companions[name]; done {
			continue
		}
		cp := filepath.Join(dir, name)
		if strings.ContainsAny(name, `/\`) || name == ".." || name == "." {
			return nil, fmt.Errorf("%s: %w: companion name %q is not a file name", path, ErrMismatch, name)
		}
		b, err := limits.ReadFile(cp)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s: %w (it belongs with %s)", cp, os.ErrNotExist, filepath.Base(path))
			}
			return nil, err
		}
		s.Companions[name] = b
	}
	if err := f.Verify(); err != nil {
		if !errors.Is(err, ErrUnverified) || !opts.AllowUnverified {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.Verified = false
	}
	for _, name := range names {
		if err := f.verifyCompanion(name, s.Companions[name], filepath.Base(path)); err != nil {
			if !errors.Is(err, ErrUnverified) || !opts.AllowUnverified {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
			}
			s.Verified = false
		}
	}
	return s, nil
}
