// Package runcheck compares training runs for the tests that prove resumption
// exact: two run directories' checkpoints byte for byte, and their metrics but for
// wall-clock times.
package runcheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/internal/metrics"
)

// SameFiles reports the first difference between directories a and b: another set of
// files, or a file whose bytes differ (nil when they hold the same).
func SameFiles(a, b string) error {
	ea, err := os.ReadDir(a)
	if err != nil {
		return err
	}
	eb, err := os.ReadDir(b)
	if err != nil {
		return err
	}
	if len(ea) != len(eb) {
		return fmt.Errorf("%s has %d files, %s %d", a, len(ea), b, len(eb))
	}
	for i := range ea {
		x, errx := os.ReadFile(filepath.Join(a, ea[i].Name()))
		y, erry := os.ReadFile(filepath.Join(b, eb[i].Name()))
		if ea[i].Name() != eb[i].Name() || errx != nil || erry != nil || !bytes.Equal(x, y) {
			return fmt.Errorf("%s differs between %s and %s", ea[i].Name(), a, b)
		}
	}
	return nil
}

// Untimed reads the metrics file of a run directory without its wall-clock columns.
func Untimed(runDir, name string) ([]metrics.Row, error) {
	rows, err := metrics.Read(filepath.Join(runDir, name))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		delete(r.Values, agents.MetricElapsed)
		delete(r.Values, agents.MetricEvalSeconds)
	}
	return rows, nil
}

// SameRun reports the first difference between run directories a and b: their best/
// and last/ checkpoints byte for byte, and their metrics but for timings.
func SameRun(a, b string) error {
	for _, kind := range []string{"best", "last"} {
		if err := SameFiles(filepath.Join(a, kind), filepath.Join(b, kind)); err != nil {
			return err
		}
	}
	ra, err := Untimed(a, "metrics.jsonl")
	if err != nil {
		return err
	}
	rb, err := Untimed(b, "metrics.jsonl")
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(ra, rb) {
		return fmt.Errorf("the metrics of %s and %s differ", a, b)
	}
	return nil
}
