// Package limits bounds what a size read from a config, a flag or a file may make
// evarl allocate, so that `batch_size: 1e9` or a corrupted header ends in an error
// naming the field, its value and the limit instead of the runtime's "out of memory"
// or the kernel's OOM killer.
//
// The limit is half of the memory the process can use: the smallest of the
// machine's physical memory, the cgroup (container) memory limit and GOMEMLIMIT
// (set GOMEMLIMIT to make evarl assume less). Half, because the check is made for
// one plan of allocations at a time (a model with its gradients, optimizer moments
// and activations; a dataset; a decoded file) while the rest of the process, the
// page cache and the operating system need room too, and because Go's collector
// with the default GOGC=100 lets the heap reach twice the live data before it
// collects: a live set above half of memory can exhaust it. A size that passes
// the check can still fail to fit next to other allocations; one that fails
// could never have fitted.
package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"sync"
)

// Fraction is the share of the usable memory one plan of allocations may take.
const Fraction = 0.5

// FallbackMemory is the usable memory assumed when the system does not say (16 GiB,
// a common workstation), used only where physical memory cannot be read.
const FallbackMemory = 16 << 30

var (
	once   sync.Once
	usable int64
	source string
)

// Usable is the memory the process can use, in bytes, and where the number comes
// from ("physical memory", "the cgroup limit", "GOMEMLIMIT", "assumed").
func Usable() (int64, string) {
	once.Do(func() {
		usable, source = physicalMemory()
		if usable <= 0 {
			usable, source = FallbackMemory, "assumed (physical memory unknown)"
		}
		if cg := cgroupLimit(); cg > 0 && cg < usable {
			usable, source = cg, "the cgroup memory limit"
		}
		if gl := debug.SetMemoryLimit(-1); gl > 0 && gl < math.MaxInt64 && gl < usable {
			usable, source = gl, "GOMEMLIMIT"
		}
	})
	return usable, source
}

// Memory is the limit in bytes: Fraction of Usable.
func Memory() int64 {
	u, _ := Usable()
	return int64(Fraction * float64(u))
}

// Describe says what the limit is and why, for error messages: "11.8 GB, half of
// the 23.5 GB of physical memory".
func Describe() string {
	u, src := Usable()
	return fmt.Sprintf("%s, half of the %s of %s", Bytes(float64(Memory())), Bytes(float64(u)), src)
}

// ErrTooLarge is wrapped by every error of this package.
var ErrTooLarge = errors.New("too large for this machine")

// TooLarge reports a value that would make evarl allocate more than the limit.
type TooLarge struct {
	// Field names what the value is: a config key ("batch_size"), a file and field
	// ("config.json: embed_dim"), a tensor.
	Field string
	// Value is the value found.
	Value float64
	// Need is the number of bytes it would allocate, What what for ("the model's
	// parameters, gradients and optimizer state").
	Need float64
	What string
	// Max is the largest value of the field that fits (with every other field as it
	// is), or 0 when not known.
	Max float64
}

// Error names the field, the value, what it needs and the limit.
func (e *TooLarge) Error() string {
	s := fmt.Sprintf("%s = %s needs %s for %s, more than the limit of %s", e.Field, number(e.Value), Bytes(e.Need), e.What, Describe())
	if e.Max > 0 {
		s += fmt.Sprintf("; at most %s fits", number(e.Max))
	}
	return s
}

// Unwrap makes errors.Is(err, ErrTooLarge) hold.
func (e *TooLarge) Unwrap() error { return ErrTooLarge }

// Check returns a *TooLarge when need bytes exceed Memory(), else nil. Sizes are
// float64 so that products of huge values do not overflow before the comparison.
func Check(field string, value, need float64, what string) error {
	if need <= float64(Memory()) && !math.IsNaN(need) {
		return nil
	}
	return &TooLarge{Field: field, Value: value, Need: need, What: what}
}

// CheckMax is Check that also finds the largest value of the field that fits, by
// bisection over [1, value] of need(v), which must be non-decreasing in v.
func CheckMax(field string, value int, need func(v int) float64, what string) error {
	n := need(value)
	if err := Check(field, float64(value), n, what); err == nil {
		return nil
	}
	lim := float64(Memory())
	lo, hi := 0, value // need(lo) fits (or lo = 0), need(hi) does not
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if need(mid) <= lim {
			lo = mid
		} else {
			hi = mid
		}
	}
	return &TooLarge{Field: field, Value: float64(value), Need: n, What: what, Max: float64(lo)}
}

// ReadFile reads the file at path after checking that its size is within the limit,
// so that a file larger than memory is an error rather than a crash. A file that
// grows past the limit while being read is an error too.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	tooLarge := func(n int64) error {
		return &TooLarge{Field: path + ": file size", Value: float64(n), Need: float64(n), What: "reading the file into memory"}
	}
	lim := Memory()
	if st.Size() > lim {
		return nil, tooLarge(st.Size())
	}
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, lim+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(buf.Len()) > lim {
		return nil, tooLarge(int64(buf.Len()))
	}
	return buf.Bytes(), nil
}

// Bytes formats a byte count with a decimal unit: "11.8 GB".
func Bytes(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	if b >= 1000 { // beyond exabytes
		return fmt.Sprintf("%.4g %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// number prints an integer-valued float as an integer and others compactly.
func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}
