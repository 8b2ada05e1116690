//go:build !pixel

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestWatchWithoutPixelTag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runWith([]string{"watch", "any.evr"}, &stdout, &stderr)
	if err == nil {
		t.Fatal("watch in a build without the pixel tag succeeded")
	}
	for _, want := range []string{"-tags pixel", "libgl1-mesa-dev", "rl-train render"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
