package agents

import "errors"

// ErrRunDirInUse is the error of LockRunDir when another process holds the lock.
var ErrRunDirInUse = errors.New("run directory in use")
