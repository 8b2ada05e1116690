package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchange swaps directories a and b in one step (renameat2 RENAME_EXCHANGE, Linux
// 3.15+), falling back to renames on file systems that do not support it.
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
		return exchangeByRenames(a, b)
	}
	return err
}
