//go:build unix

package nn

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used so far. The
// benchmarks report it per op next to wall time: on a shared machine wall time
// includes waiting for a core, CPU time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
