package envs

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Options are an environment's constructor arguments, as they come from a YAML config
// or a dataset's metadata: physical parameters of a task variant, a layout seed, a
// time limit. Keys are snake_case. Values are numbers, strings, bools or lists.
type Options map[string]any

// Clone returns a shallow copy, so that a caller can add or remove keys without
// changing the original.
func (o Options) Clone() Options {
	c := make(Options, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// OptionReader reads Options with defaults and validation, remembering the first error
// and which keys were used, so that a constructor reads like a list of parameters and
// ends with one error check that also rejects unknown keys:
//
//	r := envs.NewOptionReader("CartPole-v1", opts)
//	p.Length = r.Float("length", 0.5, envs.Positive)
//	if err := r.Finish(); err != nil { … }
type OptionReader struct {
	env  string
	opts Options
	used map[string]bool
	err  error
}

// NewOptionReader starts reading opts for the environment named env (used in errors).
func NewOptionReader(env string, opts Options) *OptionReader {
	return &OptionReader{env: env, opts: opts, used: map[string]bool{}}
}

// FloatCheck validates a float option; it returns a description of what is expected
// when the value is not acceptable, or "" when it is.
type FloatCheck func(v float64) string

// Positive accepts finite values > 0.
func Positive(v float64) string {
	if !(v > 0) || math.IsInf(v, 0) {
		return "a finite number > 0"
	}
	return ""
}

// NonNegative accepts finite values ≥ 0.
func NonNegative(v float64) string {
	if !(v >= 0) || math.IsInf(v, 0) {
		return "a finite number ≥ 0"
	}
	return ""
}

// NonZero accepts finite values other than 0 (a signed quantity whose sign means
// something, such as a force that may push either way).
func NonZero(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "a finite number ≠ 0"
	}
	return ""
}

// Finite accepts any finite value.
func Finite(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "a finite number"
	}
	return ""
}

func (r *OptionReader) fail(key string, v any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: option %q = %v: want %s", r.env, key, v, want)
	}
}

// Has reports whether key is present (and marks it used).
func (r *OptionReader) Has(key string) bool {
	_, ok := r.opts[key]
	r.used[key] = true
	return ok
}

// Float reads a number option, or returns def when the key is absent.
func (r *OptionReader) Float(key string, def float64, checks ...FloatCheck) float64 {
	r.used[key] = true
	raw, ok := r.opts[key]
	if !ok {
		return def
	}
	v, ok := toFloat(raw)
	if !ok {
		r.fail(key, raw, "a number")
		return def
	}
	for _, c := range checks {
		if want := c(v); want != "" {
			r.fail(key, raw, want)
			return def
		}
	}
	return v
}

// Int reads an integer option within [min, max], or returns def when absent.
func (r *OptionReader) Int(key string, def, min, max int) int {
	r.used[key] = true
	raw, ok := r.opts[key]
	if !ok {
		return def
	}
	f, ok := toFloat(raw)
	if !ok || f != math.Trunc(f) || f < float64(min) || f > float64(max) {
		r.fail(key, raw, fmt.Sprintf("an integer in [%d, %d]", min, max))
		return def
	}
	return int(f)
}

// String reads a string option that must be one of allowed (when allowed is not
// empty), or returns def when absent.
func (r *OptionReader) String(key, def string, allowed ...string) string {
	r.used[key] = true
	raw, ok := r.opts[key]
	if !ok {
		return def
	}
	s, ok := raw.(string)
	if !ok {
		r.fail(key, raw, "a string")
		return def
	}
	if len(allowed) > 0 {
		for _, a := range allowed {
			if s == a {
				return s
			}
		}
		r.fail(key, raw, "one of "+strings.Join(allowed, ", "))
		return def
	}
	return s
}

// Bool reads a boolean option, or returns def when absent.
func (r *OptionReader) Bool(key string, def bool) bool {
	r.used[key] = true
	raw, ok := r.opts[key]
	if !ok {
		return def
	}
	b, ok := raw.(bool)
	if !ok {
		r.fail(key, raw, "true or false")
		return def
	}
	return b
}

// Ints reads a list of integers, or returns def when absent.
func (r *OptionReader) Ints(key string, def []int) []int {
	r.used[key] = true
	raw, ok := r.opts[key]
	if !ok {
		return def
	}
	var items []any
	switch v := raw.(type) {
	case []any:
		items = v
	case []int:
		return append([]int(nil), v...)
	default:
		r.fail(key, raw, "a list of integers")
		return def
	}
	out := make([]int, len(items))
	for i, it := range items {
		f, ok := toFloat(it)
		if !ok || f != math.Trunc(f) {
			r.fail(key, raw, "a list of integers")
			return def
		}
		out[i] = int(f)
	}
	return out
}

// Finish returns the first error met while reading, or an error naming every key that
// was never read (an unknown option), listing the keys the environment knows.
func (r *OptionReader) Finish() error {
	if r.err != nil {
		return r.err
	}
	var unknown, known []string
	for k := range r.opts {
		if !r.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	for k := range r.used {
		known = append(known, k)
	}
	sort.Strings(unknown)
	sort.Strings(known)
	return fmt.Errorf("%s: unknown option(s) %s; known options: %s", r.env,
		strings.Join(unknown, ", "), strings.Join(known, ", "))
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}
