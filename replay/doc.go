// Package replay holds recorded episodes and everything that reads them: the on-disk
// episode file format used for datasets and evaluation recordings, the context-window
// sampler that feeds Decision Transformer training, and the trajectory replay buffer
// of online fine-tuning.
//
// # Episodes
//
// An Episode stores one episode as flat row-major float32 arrays (observations
// Len()+1 rows, actions and rewards Len() rows) plus its environment id, task id,
// options and seed; optionally the environment's full float64 state per step
// (envs.Stateful), for rendering. A Recorder builds episodes from env calls, copying
// observations because environments own theirs.
//
// # Episode files
//
// Datasets and recordings are one file format (docs/dataset-format.md has the byte
// layout):
//
//	header:  magic "\x89EVRL\r\n\x1a" | version u32 | crc32c(magic, version) u32
//	record:  "EPIS" | body length u64 | crc32c(tag, length) u32 | body | crc32c(body) u32
//	body:    JSON length u32 | JSON metadata | arrays
//	arrays:  obs, actions, rewards as float32 LE | states as float64 LE  (raw, or DEFLATE when
//	         the metadata says "encoding": "deflate"; WriteOptions.Compress)
//
// A file is written by appending records in place (Create, Append, Writer.Write), each
// in a single write, with an fsync every WriteOptions.SyncEvery episodes and on Close.
// Appending in place rather than writing a temporary file renamed on Close is what
// keeps every complete episode when collection crashes or is interrupted: the file is
// valid after every Write. Only the header is written to a temporary name and linked
// into place, so a path never names a file without one, and Create never replaces an
// existing file.
//
// Open verifies every checksum. A damaged record followed by more data is an error
// naming the file, record index and byte offset; damage confined to the last record
// (what a crash leaves) is a *TruncatedError (wrapping ErrTruncated), which
// Options.AllowTruncatedTail turns into "use the complete records before it"; its
// message names that option, and a command-line tool names its flag instead
// (TruncatedError.WithRemedy). The checksums cannot see a file cut exactly at a
// record boundary (it is a valid shorter file) or records reordered: where that
// matters, the file is covered by a whole-file checksum elsewhere (an online
// trainer's buffer, by the train state; docs/file-integrity.md). Sizes in a record
// are checked against the data and the memory limit (package internal/limits)
// before anything is allocated. Loading is one read followed by decoding with
// math.Float32frombits loops (BenchmarkOpen measures it).
//
// # Training windows
//
// Sampler (offline) and Buffer (online, ODT) fill a caller-owned Batch, the one input
// type of the Decision Transformer (policy.Batch is the same type), with windows of K
// steps: trajectories are drawn in proportion to their length and the window start
// uniformly within them (the DT reference's get_batch), returns-to-go are
// undiscounted sums of the stored rewards, and short windows are left-padded with
// zeros and a false mask. Windows are raw — observations as recorded, returns in
// reward units, timesteps unclipped — because the model scales, normalises and clips
// itself with the statistics its checkpoint carries (ComputeNormStats computes them
// at pretraining). Sampling does not allocate. Unlike the reference, padded states
// and actions are 0 (the reference pads actions with −10); the mask makes either
// choice invisible to a correctly masked model.
//
// All randomness comes from the *rand.Rand the caller passes.
package replay
