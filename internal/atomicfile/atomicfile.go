// Package atomicfile is evarl's one way of writing a file or a directory so that a
// crash, a full disk or an error never leaves half of it at the destination: the
// content goes to a temporary name beside the destination (same directory, hence
// same file system), is synced, and is renamed into place only once complete. A
// reader sees the old content or the complete new one, never a mixture.
//
// Three shapes of the same idea:
//
//   - WriteFile and Write replace a file with bytes or with whatever a function
//     writes (checkpoint JSON, safetensors files, metrics, results tables);
//   - Create returns a File to stream into (GIFs, episode files) and then Commit
//     (replace the destination) or Publish (link it into place without replacing an
//     existing file, and keep writing: episode files that are appended in place);
//   - CreateDir returns a Dir to fill with files and then Commit, which swaps it with
//     the destination directory (checkpoint directories, PNG frame directories).
//
// Temporary files are hidden (".name.tmp-…") and removed on every error path.
// Temporary directories have a fixed name (".name.tmp") so that one left by a
// crash is found and removed by the next CreateDir of the same destination; a
// destination directory must therefore have one writer at a time, as a run
// directory does.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Mode is the permission of committed files (CreateTemp makes 0600; outputs are
// ordinary files) and DirMode that of committed directories.
const (
	Mode    os.FileMode = 0o644
	DirMode os.FileMode = 0o755
)

// WriteFile replaces path with data atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path atomically with what write writes. When write (or syncing, or
// the rename) fails, the temporary file is removed, path is left as it was, and the
// error names path.
func Write(path string, write func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// File is a temporary file that becomes path on Commit or Publish. Write to it
// through the embedded *os.File.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts a temporary file beside path.
func Create(path string) (*File, error) {
	dir, base := split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{File: tmp, path: path}, nil
}

// Path is the destination.
func (f *File) Path() string { return f.path }

// Commit syncs and closes the file and renames it over the destination, then syncs
// the directory so that the rename survives a power loss. On error the temporary
// file is removed. Commit after Commit or Abort is an error.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	f.done = true
	err := f.Sync()
	if err == nil {
		err = f.Chmod(Mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// ErrExist is wrapped by Publish when the destination already exists.
var ErrExist = os.ErrExist

// Publish makes what was written so far appear at the destination without replacing
// an existing file (an error wrapping ErrExist then), and leaves the file open: the
// caller keeps writing through f.File and closes it. It syncs first, so the
// destination never names a file without the bytes written before Publish (an
// episode file's header). On a file system without hard links it falls back to a
// rename, which cannot refuse an existing destination created in the meantime.
func (f *File) Publish() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	fail := func(err error) error {
		f.Abort()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.Chmod(Mode); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	// A hard link fails if path exists, where a rename would replace it.
	if err := os.Link(f.Name(), f.path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fail(fmt.Errorf("%w (not replaced)", ErrExist))
		}
		if _, serr := os.Lstat(f.path); serr == nil {
			return fail(fmt.Errorf("%w (not replaced)", ErrExist))
		}
		if err := os.Rename(f.Name(), f.path); err != nil {
			return fail(err)
		}
	} else {
		os.Remove(f.Name())
	}
	f.done = true
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort closes and removes the temporary file. It is a no-op after Commit, Publish
// or Abort, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// Dir is a temporary directory that replaces its destination on Commit.
type Dir struct {
	path, tmp string
	done      bool
}

// CreateDir starts a temporary directory beside path. A temporary directory that a
// crash left for the same destination is removed first.
func CreateDir(path string) (*Dir, error) {
	path = filepath.Clean(path)
	parent, _ := split(path)
	if err := os.MkdirAll(parent, DirMode); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	tmp, _ := Siblings(path)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("create %s: remove a leftover temporary directory: %w", path, err)
	}
	if err := os.Mkdir(tmp, DirMode); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &Dir{path: path, tmp: tmp}, nil
}

// Path is the temporary directory to write into.
func (d *Dir) Path() string { return d.tmp }

// Join is filepath.Join(d.Path(), name).
func (d *Dir) Join(name string) string { return filepath.Join(d.tmp, name) }

// Dest is the destination directory.
func (d *Dir) Dest() string { return d.path }

// Commit syncs the files in the temporary directory and puts it in place of the
// destination, which it replaces whole when it exists (its files do not mix with the
// new ones). On Linux the two directories are exchanged in one rename (renameat2
// RENAME_EXCHANGE), so the destination always names a complete directory; elsewhere
// the old directory is first renamed aside, leaving a moment in which the
// destination does not exist. On error the temporary directory is removed and the
// destination is left as it was.
func (d *Dir) Commit() error {
	if d.done {
		return fmt.Errorf("write %s: already committed or aborted", d.path)
	}
	d.done = true
	fail := func(err error) error {
		os.RemoveAll(d.tmp)
		return fmt.Errorf("write %s: %w", d.path, err)
	}
	if err := syncFiles(d.tmp); err != nil {
		return fail(err)
	}
	st, err := os.Lstat(d.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Rename(d.tmp, d.path); err != nil {
			return fail(err)
		}
	case err != nil:
		return fail(err)
	case !st.IsDir():
		return fail(fmt.Errorf("exists and is not a directory"))
	default:
		if err := exchange(d.tmp, d.path); err != nil {
			return fail(err)
		}
		// d.tmp now holds the old directory.
		if err := os.RemoveAll(d.tmp); err != nil {
			return fmt.Errorf("write %s: remove the replaced directory: %w", d.path, err)
		}
	}
	syncDir(filepath.Dir(d.path))
	return nil
}

// Abort removes the temporary directory and its files. It is a no-op after Commit or
// Abort, so it can be deferred.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.tmp)
}

// Siblings are the names CreateDir and Commit use beside a destination directory:
// the temporary directory, and the name the old directory is moved to where the
// system cannot exchange two directories in one step.
func Siblings(path string) (tmp, old string) {
	parent, base := split(filepath.Clean(path))
	return filepath.Join(parent, "."+base+".tmp"), filepath.Join(parent, "."+base+".old")
}

// RecoverDir repairs what a crash during Dir.Commit can leave: when path is missing
// but the old directory was moved aside (systems without an atomic exchange), the
// old one is put back; a leftover temporary directory is removed. Call it before
// reading a directory that is replaced with CreateDir.
func RecoverDir(path string) error {
	tmp, old := Siblings(path)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Lstat(old); err == nil {
			if err := os.Rename(old, path); err != nil {
				return fmt.Errorf("recover %s: %w", path, err)
			}
		}
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("recover %s: %w", path, err)
	}
	return nil
}

// exchangeByRenames swaps directories a (the new one) and b (the destination) with
// two renames through a third name; used where the system has no atomic exchange.
// Afterwards a holds the old directory.
func exchangeByRenames(a, b string) error {
	_, old := Siblings(b)
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(b, old); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		os.Rename(old, b) // put the old directory back
		return err
	}
	return os.Rename(old, a)
}

// syncFiles fsyncs every regular file directly in dir, and dir itself, so that the
// rename publishes data that is on disk.
func syncFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes renames and new entries in dir durable; best effort, as some file
// systems refuse to sync a directory and the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func split(path string) (dir, base string) {
	dir, base = filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	return dir, base
}
