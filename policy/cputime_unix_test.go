//go:build unix

package policy

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the process has used so far, so that
// benchmarks can report it beside wall time: on a shared machine wall time measures
// the neighbours too.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
