package envs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Space describes the set of valid observations or actions, as Gymnasium's spaces do.
// Values are float64 slices in both cases (see Env).
type Space interface {
	// Dim is the length of a flattened value: 1 for Discrete, the product of the
	// shape for Box.
	Dim() int
	// Contains reports whether x is a valid member of the space.
	Contains(x []float64) bool
	// String describes the space the way Gymnasium prints it.
	String() string
}

// Discrete is the set {0, 1, …, N−1}, held as a one-element float64 slice.
type Discrete struct {
	N int
}

// Dim is always 1 for a discrete space.
func (d Discrete) Dim() int { return 1 }

// Contains reports whether x is a single integer in [0, N).
func (d Discrete) Contains(x []float64) bool {
	if len(x) != 1 {
		return false
	}
	v := x[0]
	return v == math.Trunc(v) && v >= 0 && v < float64(d.N)
}

// String prints Discrete(N).
func (d Discrete) String() string { return fmt.Sprintf("Discrete(%d)", d.N) }

// Index validates a discrete action and returns it as an int, with an error that says
// what was wrong (length, NaN, not an integer, out of range).
func (d Discrete) Index(x []float64) (int, error) {
	if len(x) != 1 {
		return 0, fmt.Errorf("discrete action must have 1 element, got %d", len(x))
	}
	v := x[0]
	switch {
	case math.IsNaN(v):
		return 0, fmt.Errorf("discrete action is NaN")
	case v != math.Trunc(v):
		return 0, fmt.Errorf("discrete action %v is not an integer", v)
	case v < 0 || v >= float64(d.N):
		return 0, fmt.Errorf("discrete action %v is outside [0, %d)", v, d.N)
	}
	return int(v), nil
}

// Box is a (possibly unbounded) box in R^n: Low[i] ≤ x[i] ≤ High[i], with ±Inf for an
// unbounded side. Shape is kept for display; values are flattened row-major.
type Box struct {
	Low, High []float64
	Shape     []int
}

// NewBox builds a one-dimensional box from its bounds.
func NewBox(low, high []float64) Box {
	return Box{Low: low, High: high, Shape: []int{len(low)}}
}

// Dim is the number of elements in a value.
func (b Box) Dim() int { return len(b.Low) }

// Contains reports whether x has the right length, no NaN, and lies within bounds.
func (b Box) Contains(x []float64) bool {
	if len(x) != len(b.Low) {
		return false
	}
	for i, v := range x {
		if math.IsNaN(v) || v < b.Low[i] || v > b.High[i] {
			return false
		}
	}
	return true
}

// Check validates the length and rejects NaN, leaving the bounds to the caller
// (which clips or rejects, as Gymnasium does for that environment).
func (b Box) Check(x []float64) error {
	if len(x) != len(b.Low) {
		return fmt.Errorf("action must have %d elements, got %d", len(b.Low), len(x))
	}
	for i, v := range x {
		if math.IsNaN(v) {
			return fmt.Errorf("action element %d is NaN", i)
		}
	}
	return nil
}

// String prints Box(low, high, shape) like Gymnasium.
func (b Box) String() string {
	shape := make([]string, len(b.Shape))
	for i, s := range b.Shape {
		shape[i] = fmt.Sprint(s)
	}
	return fmt.Sprintf("Box(%s, %s, (%s,))", formatBounds(b.Low), formatBounds(b.High), strings.Join(shape, ", "))
}

func formatBounds(v []float64) string {
	same := true
	for _, x := range v {
		if x != v[0] {
			same = false
			break
		}
	}
	if same && len(v) > 0 {
		return formatFloat(v[0])
	}
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = formatFloat(x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func formatFloat(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	if float64(float32(x)) == x {
		// Observation bounds are float32 in Gymnasium: print them as it does (4.8,
		// not 4.800000190734863).
		return strconv.FormatFloat(x, 'g', -1, 32)
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}
