//go:build unix

package eva

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) the process has used. The benchmarks
// report it per operation beside the wall time, because on a shared machine the
// wall time measures the neighbours as much as the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
