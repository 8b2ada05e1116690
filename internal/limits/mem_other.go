//go:build !linux && !darwin

package limits

func physicalMemory() (int64, string) { return 0, "" }

func cgroupLimit() int64 { return 0 }
