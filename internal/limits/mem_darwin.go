package limits

import "golang.org/x/sys/unix"

func physicalMemory() (int64, string) {
	v, err := unix.SysctlUint64("hw.memsize")
	if err != nil || v == 0 || v > 1<<62 {
		return 0, ""
	}
	return int64(v), "physical memory"
}

func cgroupLimit() int64 { return 0 }
