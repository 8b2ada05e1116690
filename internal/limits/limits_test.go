package limits

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsableIsPlausible(t *testing.T) {
	u, src := Usable()
	if u < 64<<20 || src == "" {
		t.Fatalf("Usable() = %d, %q: want at least 64 MiB and a source", u, src)
	}
	if got := Memory(); got != int64(Fraction*float64(u)) {
		t.Errorf("Memory() = %d, want %v of %d", got, Fraction, u)
	}
}

func TestCheck(t *testing.T) {
	lim := float64(Memory())
	if err := Check("x", 1, lim, "y"); err != nil {
		t.Errorf("Check at the limit: %v", err)
	}
	err := Check("batch_size", 1e9, 1e18, "activations")
	var tl *TooLarge
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Check over the limit = %v, want a *TooLarge wrapping ErrTooLarge", err)
	}
	for _, want := range []string{"batch_size = 1000000000", "1.0 EB", "activations", "limit of", "half of"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestCheckMaxFindsTheLargestFit(t *testing.T) {
	lim := Memory()
	// need(v) = v·1000 bytes: the largest fit is lim/1000.
	err := CheckMax("r", int(lim/1000)*4, func(v int) float64 { return 1000 * float64(v) }, "adapters")
	var tl *TooLarge
	if !errors.As(err, &tl) {
		t.Fatalf("CheckMax = %v, want *TooLarge", err)
	}
	if want := float64(lim / 1000); tl.Max != want {
		t.Errorf("Max = %v, want %v", tl.Max, want)
	}
	if !strings.Contains(err.Error(), "at most") {
		t.Errorf("error %q does not say what fits", err)
	}
	if err := CheckMax("r", 8, func(v int) float64 { return float64(v) }, "a"); err != nil {
		t.Errorf("a small value: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("hello"), 0o644)
	b, err := ReadFile(p)
	if err != nil || string(b) != "hello" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := ReadFile(p + "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A sparse file claiming more than the limit is refused before reading.
	big := filepath.Join(t.TempDir(), "big")
	f, _ := os.Create(big)
	if err := f.Truncate(Memory() + 1); err != nil {
		t.Skip("cannot create a sparse file:", err)
	}
	f.Close()
	if _, err := ReadFile(big); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), big) {
		t.Errorf("ReadFile of a file larger than the limit: %v", err)
	}
}

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1500, "1.5 kB"}, {11.8e9, "11.8 GB"}, {4e21, "4000 EB"}} {
		if got := Bytes(c.in); got != c.want {
			t.Errorf("Bytes(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
