//go:build !linux

package atomicfile

// exchange swaps directories a and b by renames (no atomic exchange here).
func exchange(a, b string) error { return exchangeByRenames(a, b) }
