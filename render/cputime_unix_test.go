//go:build unix

package render

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) the process has used: on a shared machine
// frames per CPU-second measure the code, where wall-clock frames/s also measure the
// neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
