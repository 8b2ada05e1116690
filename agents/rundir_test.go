package agents

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/evarl/evarl/internal/atomicfile"
)

// HasCheckpoint is asked by other processes (experiment --status, --merge) while a
// run saves: asking in the middle of a save must not break it, as the repair that
// removed the temporary directory once did.
func TestHasCheckpointLeavesASaveInProgressAlone(t *testing.T) {
	d := RunDir{Path: t.TempDir()}
	write := func(step string, probe func()) error {
		return d.SaveCheckpoint("last", func(dir string) error {
			if err := os.WriteFile(filepath.Join(dir, "weights"), []byte(step), 0o644); err != nil {
				return err
			}
			probe()
			return os.WriteFile(filepath.Join(dir, TrainStateFile), []byte(step), 0o644)
		})
	}
	if err := write("1", func() {
		if d.HasCheckpoint("last") {
			t.Error("HasCheckpoint is true while the first save is still being written")
		}
	}); err != nil {
		t.Fatalf("first save with a status query in the middle: %v", err)
	}
	if err := write("2", func() {
		if !d.HasCheckpoint("last") {
			t.Error("HasCheckpoint is false while the previous checkpoint stands")
		}
	}); err != nil {
		t.Fatalf("second save with a status query in the middle: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(d.Path, "last", TrainStateFile))
	if err != nil || string(got) != "2" {
		t.Fatalf("last/ holds %q (%v), want the second save", got, err)
	}
}

// Where a replacement was interrupted between its two renames, the old checkpoint
// waits aside: HasCheckpoint counts it without moving it, Checkpoint puts it back.
func TestHasCheckpointCountsTheCheckpointSetAside(t *testing.T) {
	d := RunDir{Path: t.TempDir()}
	dir := filepath.Join(d.Path, "last")
	tmp, old := atomicfile.Siblings(dir)
	for _, p := range []string{old, tmp} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(old, TrainStateFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !d.HasCheckpoint("last") {
		t.Fatal("HasCheckpoint misses the checkpoint set aside")
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("HasCheckpoint changed the run directory: %v", err)
	}
	got, err := d.Checkpoint("last")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(got, TrainStateFile)); err != nil {
		t.Fatalf("Checkpoint did not put the old checkpoint back: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("Checkpoint left the temporary directory: %v", err)
	}
}
