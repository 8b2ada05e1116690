package progress

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// A writer that is not a terminal gets log lines: one per interval, with the last
// fields given, and always one when the work completes.
func TestLogLines(t *testing.T) {
	var out bytes.Buffer
	log := logrus.New()
	log.SetOutput(&out)
	log.SetFormatter(&logrus.JSONFormatter{DisableTimestamp: true})
	r := New(&out, log, "train", "updates", 4, 1<<62) // an interval never reached: only completion logs
	r.Describe("task-a")
	r.Add(1, logrus.Fields{"loss": "0.5"})
	r.Add(2, nil)
	if out.Len() != 0 {
		t.Fatalf("logged before the interval or completion: %s", out.String())
	}
	r.Add(1, nil)
	r.Finish()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %s", len(lines), out.String())
	}
	for _, want := range []string{`"done":4`, `"total":4`, `"loss":"0.5"`, `"at":"task-a"`, `"msg":"train"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %s lacks %s", lines[0], want)
		}
	}
}
