// Package safetensors reads and writes the safetensors file format, the format evarl
// uses for policy checkpoints and (laid out as PEFT lays them) for LoRA adapters, so
// that the files are interchangeable with the Python ecosystem.
//
// The layout of a file (all integers little-endian):
//
//	bytes [0, 8)        N, an unsigned 64-bit header length
//	bytes [8, 8+N)      a UTF-8 JSON object, padded at the end with spaces (0x20):
//	                      {"__metadata__": {"key": "value", ...},           (optional)
//	                       "name": {"dtype": "F32", "shape": [2, 3],
//	                                "data_offsets": [begin, end]}, ...}
//	bytes [8+N, EOF)    the data buffer; each tensor's bytes are
//	                    buffer[begin:end], row-major, little-endian
//
// The reader is strict, because a checkpoint that loads wrong is worse than one that
// does not load: the header length must be sane (at most MaxHeaderSize and within the
// file), the JSON must be one object with no duplicate keys and no unknown fields,
// every dtype must be known, every shape non-negative with begin ≤ end and
// end-begin = product(shape)·sizeof(dtype), and the tensors must tile the data buffer
// exactly: no overlap, no gap, no trailing bytes. Every error names the tensor (and,
// through ReadFile, the file) and what was expected.
//
// The writer sorts tensors by name, packs them without gaps, pads the header with
// spaces so that the data buffer starts at an 8-byte boundary (as the reference
// implementation does), and WriteFile writes to a temporary file in the destination
// directory, syncs it and renames it over the destination, so that a crash never
// leaves half a file.
//
// Supported dtypes: F32, F64 and I64. Others are rejected on read with an error
// naming the dtype.
//
// # Sealing
//
// Every file evarl writes is sealed (File.Seal): "__metadata__" gets the SHA-256 of
// the file's canonical content (File.Digest: metadata and tensors, independent of
// layout) under DigestKey and the SHA-256 of each companion file beside it (the JSON
// of a checkpoint, an adapter or a train state) under CompanionPrefix + its name.
// ReadSealed verifies both; a missing digest is ErrUnverified, an error unless the
// caller passes ReadOptions.AllowUnverified for a foreign file, and a wrong one is
// ErrMismatch, always an error. docs/file-integrity.md describes the scheme for
// other tools and lists which file covers which.
//
// Decode never allocates from a size in the header: tensors alias the data, whose
// length bounds every shape, and ReadFile and ReadSealed refuse files larger than the
// memory limit of package internal/limits before reading them.
package safetensors
