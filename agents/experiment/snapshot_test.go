package experiment

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/config"
)

// A snapshot loads back into the same runs (keys and directories); it is named by
// its content, so an edited config gets a snapshot of its own and the earlier one
// still plans the earlier runs.
func TestSnapshotKeepsTheRuns(t *testing.T) {
	cfg, dir := fixture(t)
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(dir, "snapshots")
	path, err := WriteSnapshot(p, snapDir, "a test snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^config-[0-9a-f]{12}\.yaml$`).MatchString(filepath.Base(path)) {
		t.Errorf("snapshot file %s: want config-<12 hex digits>.yaml", path)
	}
	again, err := WriteSnapshot(p, snapDir, "a test snapshot")
	if err != nil || again != path {
		t.Errorf("the same plan snapshots to %s (%v), first to %s", again, err, path)
	}
	plansTo := func(path string, want *Plan) {
		t.Helper()
		back := DefaultConfig()
		if err := config.Load(path, &back); err != nil {
			t.Fatal(err)
		}
		q, err := NewPlan(back)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Runs) != len(want.Runs) {
			t.Fatalf("%s plans %d runs, want %d", path, len(q.Runs), len(want.Runs))
		}
		for i := range q.Runs {
			if q.Runs[i].Key != want.Runs[i].Key || q.Runs[i].Dir != want.Runs[i].Dir {
				t.Errorf("%s: run %d has key %s dir %s, want %s %s", path, i, q.Runs[i].Key, q.Runs[i].Dir, want.Runs[i].Key, want.Runs[i].Dir)
			}
		}
	}
	plansTo(path, p)

	edited := cfg
	edited.Families = append([]Family(nil), cfg.Families...)
	edited.Families[0].Finetune.Train.Steps++
	e, err := NewPlan(edited)
	if err != nil {
		t.Fatal(err)
	}
	path2, err := WriteSnapshot(e, snapDir, "a test snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if path2 == path {
		t.Fatalf("an edited config snapshots to the same file %s", path)
	}
	plansTo(path, p)
	plansTo(path2, e)
	data, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(data), "# a test snapshot\n") {
		t.Errorf("snapshot starts %.40q (%v), want the header comment", data, err)
	}
}

// Family names become directories under runs_dir, beside the backends' own.
func TestReservedFamilyNames(t *testing.T) {
	cfg, _ := fixture(t)
	for _, name := range []string{SlurmDir, LocalDir} {
		c := cfg
		c.Families = append([]Family(nil), cfg.Families...)
		c.Families[0].Name = name
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("family %q: error %v, want one saying the name is reserved", name, err)
		}
	}
}
