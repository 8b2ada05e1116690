//go:build !unix

package render

import "time"

// cpuTime is not measured on this platform; benchmarks then report wall-clock rates
// only.
func cpuTime() time.Duration { return 0 }
