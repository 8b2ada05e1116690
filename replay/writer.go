package replay

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/evarl/evarl/internal/atomicfile"
)

// DefaultSyncEvery is how many episodes a Writer writes between fsyncs by default: a
// power loss can cost at most that many episodes, while a crash of the process alone
// costs none (every Write reaches the operating system before it returns).
const DefaultSyncEvery = 64

// WriteOptions configure Create and Append; a nil *WriteOptions means the defaults.
type WriteOptions struct {
	// SyncEvery is the number of episodes between fsyncs (0 means DefaultSyncEvery,
	// 1 syncs after every episode). Close always syncs.
	SyncEvery int
	// AllowTruncatedTail lets Append cut an incomplete last record (left by a crash)
	// off the file and continue after the last complete one. Without it such a file
	// is an error, so that nothing is removed unless asked for.
	AllowTruncatedTail bool
	// Compress stores each episode's arrays DEFLATE-compressed. Worth it for sparse
	// observations (a gridworld's one-hot map shrinks by an order of magnitude);
	// dense float data barely compresses and loads slower. Each record says how it is
	// stored, so a file may mix both.
	Compress bool
}

// Writer appends episodes to an episode file, one self-contained checksummed record
// per Write. The file is valid after every Write: a crash keeps every complete
// episode, and Append continues it. A Writer is not safe for concurrent use.
type Writer struct {
	f         *os.File
	path      string
	size      int64 // bytes of complete records (and the header) in the file
	episodes  int
	unsynced  int
	syncEvery int
	obsDim    int
	actDim    int
	buf       []byte
	enc       encoder
	err       error // sticky: after a failed write or Close, Write refuses
}

// errClosed is the sticky error after Close.
var errClosed = errors.New("writer is closed")

// Create starts a new episode file at path. It refuses to replace an existing file
// (use Append to continue one, or remove it first): the file might hold hours of
// collection. The header is written to a temporary file in the same directory, synced
// and linked into place, so path never names a file without a complete header.
func Create(path string, opts *WriteOptions) (*Writer, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("replay: create %s: file exists (append to it, or remove it first)", path)
	}
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("replay: create: %w", err)
	}
	if _, err := tmp.Write(appendHeader(nil, Version)); err != nil {
		tmp.Abort()
		return nil, fmt.Errorf("replay: create %s: %w", path, err)
	}
	if err := tmp.Publish(); err != nil {
		if errors.Is(err, atomicfile.ErrExist) {
			return nil, fmt.Errorf("replay: create %s: file exists (append to it, or remove it first)", path)
		}
		return nil, fmt.Errorf("replay: create: %w", err)
	}
	return newWriter(tmp.File, path, headerSize, 0, 0, 0, opts), nil
}

// Append opens the existing episode file at path to add episodes after the ones it
// holds. The whole file is verified first: a damaged record is an error, and so is an
// incomplete last record unless opts.AllowTruncatedTail, in which case it is cut off.
// New episodes must have the file's observation and action sizes.
func Append(path string, opts *WriteOptions) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("replay: append: %w", err)
	}
	fail := func(err error) (*Writer, error) {
		f.Close()
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(fmt.Errorf("replay: append %s: %w", path, err))
	}
	res, err := scan(path, data, false)
	if err != nil {
		return fail(err)
	}
	if res.tail != nil {
		if opts == nil || !opts.AllowTruncatedTail {
			return fail(&TruncatedError{FormatError: res.tail, Intact: len(res.episodes), Remedy: RemedyAppend})
		}
		if err := f.Truncate(res.end); err != nil {
			return fail(fmt.Errorf("replay: append %s: cut the truncated tail: %w", path, err))
		}
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("replay: append %s: %w", path, err))
		}
	}
	if _, err := f.Seek(res.end, io.SeekStart); err != nil {
		return fail(fmt.Errorf("replay: append %s: %w", path, err))
	}
	return newWriter(f, path, res.end, len(res.episodes), res.obsDim, res.actDim, opts), nil
}

func newWriter(f *os.File, path string, size int64, episodes, obsDim, actDim int, opts *WriteOptions) *Writer {
	w := &Writer{f: f, path: path, size: size, episodes: episodes, obsDim: obsDim, actDim: actDim, syncEvery: DefaultSyncEvery}
	if opts != nil && opts.SyncEvery > 0 {
		w.syncEvery = opts.SyncEvery
	}
	if opts != nil {
		w.enc.compress = opts.Compress
	}
	return w
}

// Path is the file being written.
func (w *Writer) Path() string { return w.path }

// Episodes is the number of episodes in the file, including those it held before
// Append.
func (w *Writer) Episodes() int { return w.episodes }

// Write appends ep as one record. The episode is validated first, and its observation
// and action sizes must match the file's (set by its first episode). When Write
// returns nil the record has been handed to the operating system in one write; a
// failed write is cut off again, and the Writer refuses further writes.
func (w *Writer) Write(ep *Episode) error {
	if w.err != nil {
		return fmt.Errorf("replay: write %s: %w", w.path, w.err)
	}
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("replay: write %s: episode %d: %w", w.path, w.episodes, err)
	}
	if w.obsDim != 0 && (ep.ObsDim != w.obsDim || ep.ActDim != w.actDim) {
		return fmt.Errorf("replay: write %s: episode %d (%s): %w: obs dim %d and action dim %d, the file has %d and %d",
			w.path, w.episodes, ep.EnvID, ErrDims, ep.ObsDim, ep.ActDim, w.obsDim, w.actDim)
	}
	buf, err := w.enc.appendRecord(w.buf[:0], ep)
	if err != nil {
		return fmt.Errorf("replay: write %s: %w", w.path, err)
	}
	w.buf = buf
	if _, err := w.f.Write(buf); err != nil {
		// Remove whatever part of the record made it, so the file stays clean.
		if terr := w.f.Truncate(w.size); terr == nil {
			w.f.Seek(w.size, io.SeekStart)
		}
		w.err = err
		return fmt.Errorf("replay: write %s: episode %d: %w", w.path, w.episodes, err)
	}
	w.size += int64(len(buf))
	w.episodes++
	w.obsDim, w.actDim = ep.ObsDim, ep.ActDim
	w.unsynced++
	if w.unsynced >= w.syncEvery {
		return w.Sync()
	}
	return nil
}

// Sync flushes the file to stable storage.
func (w *Writer) Sync() error {
	if w.err != nil {
		return fmt.Errorf("replay: sync %s: %w", w.path, w.err)
	}
	if err := w.f.Sync(); err != nil {
		w.err = err
		return fmt.Errorf("replay: sync %s: %w", w.path, err)
	}
	w.unsynced = 0
	return nil
}

// Close syncs and closes the file. Closing twice returns an error.
func (w *Writer) Close() error {
	if w.err == errClosed {
		return fmt.Errorf("replay: close %s: %w", w.path, errClosed)
	}
	var err error
	if w.err == nil {
		err = w.Sync()
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("replay: close %s: %w", w.path, cerr)
	}
	w.err = errClosed
	return err
}

// WriteFile writes episodes to a new episode file at path that replaces whatever path
// held, atomically (package atomicfile): a crash leaves the old file or the new one.
// Every episode is validated and must share the first one's sizes.
func WriteFile(path string, episodes []*Episode, opts *WriteOptions) error {
	enc := encoder{compress: opts != nil && opts.Compress}
	return atomicfile.Write(path, func(w io.Writer) error {
		buf := appendHeader(nil, Version)
		for i, ep := range episodes {
			if err := ep.Validate(); err != nil {
				return fmt.Errorf("replay: episode %d: %w", i, err)
			}
			if i > 0 && (ep.ObsDim != episodes[0].ObsDim || ep.ActDim != episodes[0].ActDim) {
				return fmt.Errorf("replay: episode %d (%s): %w: obs dim %d and action dim %d, episode 0 has %d and %d",
					i, ep.EnvID, ErrDims, ep.ObsDim, ep.ActDim, episodes[0].ObsDim, episodes[0].ActDim)
			}
			var err error
			if buf, err = enc.appendRecord(buf, ep); err != nil {
				return fmt.Errorf("replay: episode %d: %w", i, err)
			}
			if len(buf) >= 1<<20 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		_, err := w.Write(buf)
		return err
	})
}
