//go:build !unix

package nn

import "time"

// processCPU is unavailable here; benchmarks then omit the cpu-ns/op metric.
func processCPU() time.Duration { return 0 }
