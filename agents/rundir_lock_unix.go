//go:build unix

package agents

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// LockRunDir takes an exclusive lock on the run directory at path (created if
// missing) until unlock is called or the process ends: a second process started on
// the same directory (to resume it, overwrite it or run it again) fails at once with
// ErrRunDirInUse instead of writing beside the first. The lock is the kernel's
// (flock on the directory), so it ends with its process, after a crash or kill -9
// too, and leaves no file behind. It holds between the processes of one machine; on
// a network file system (NFS, Lustre) it may hold only there, and where the file
// system refuses flock on a directory the directory is not locked and unlock does
// nothing: the lock guards against a second command on the same machine, never
// stops a run that could go ahead.
func LockRunDir(path string) (unlock func(), err error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, fmt.Errorf("%w: %s is being written by another process; wait for it to end or stop it", ErrRunDirInUse, path)
	default:
		// No flock here (ENOLCK, EOPNOTSUPP, or EBADF where a network file system
		// emulates it with write locks, which a directory cannot take).
		f.Close()
		return func() {}, nil
	}
}
