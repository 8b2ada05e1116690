package replay

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCreateRefusesExistingFile(t *testing.T) {
	path := writeFile(t, stepEpisode(1, 1))
	before, _ := os.ReadFile(path)
	if _, err := Create(path, nil); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("Create over an existing file: %v, want an error saying it exists", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("Create changed the existing file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the dataset (temporary file left behind?)", len(entries))
	}
}

func TestAppendContinues(t *testing.T) {
	path := writeFile(t, stepEpisode(1, 1, 2), stepEpisode(2, 3))
	w, err := Append(path, &WriteOptions{SyncEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w.Episodes() != 2 {
		t.Errorf("Episodes() = %d after opening, want 2", w.Episodes())
	}
	if err := w.Write(stepEpisode(3, 4, 5, 6)); err != nil {
		t.Fatal(err)
	}
	bad := randomEpisode(rand.New(rand.NewPCG(1, 1)), "x", 2, 5, 1, 0)
	if err := w.Write(bad); !errors.Is(err, ErrDims) || !strings.Contains(err.Error(), "data.evds") {
		t.Errorf("write of an episode with other dims: %v, want ErrDims naming the file", err)
	}
	invalid := stepEpisode(4, 1)
	invalid.Actions = nil
	if err := w.Write(invalid); err == nil || !strings.Contains(err.Error(), "action values") {
		t.Errorf("write of an invalid episode: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := w.Write(stepEpisode(5, 1)); err == nil {
		t.Error("Write after Close succeeded")
	}
	ds, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []float32
	for _, ep := range ds.Episodes {
		ids = append(ids, ep.Observations[0])
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("episodes %v, want [1 2 3]", ids)
	}
}

func TestAppendAfterCrash(t *testing.T) {
	path := writeFile(t, stepEpisode(1, 1), stepEpisode(2, 2, 2))
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)-7], 0o644); err != nil { // a torn last record
		t.Fatal(err)
	}
	if _, err := Append(path, nil); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "AllowTruncatedTail") {
		t.Fatalf("strict Append to a truncated file: %v, want ErrTruncated with advice", err)
	}
	if cut, _ := os.ReadFile(path); len(cut) != len(data)-7 {
		t.Fatal("strict Append changed the file")
	}
	w, err := Append(path, &WriteOptions{AllowTruncatedTail: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(stepEpisode(3, 3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Episodes) != 2 || ds.Episodes[0].Observations[0] != 1 || ds.Episodes[1].Observations[0] != 3 {
		t.Fatalf("after recovery: %d episodes", len(ds.Episodes))
	}
}

func TestAppendErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Append(filepath.Join(dir, "none.evds"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Append to a missing file: %v", err)
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("just some notes, not episodes"), 0o644)
	if _, err := Append(text, nil); !errors.Is(err, ErrNotEpisodeFile) || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("Append to a text file: %v", err)
	}
}

// TestKilledWriter runs a writer in a child process, kills it with SIGKILL while it
// writes, and checks that the file keeps every episode the child reported written.
func TestKilledWriter(t *testing.T) {
	if path := os.Getenv("REPLAY_TEST_KILLED_WRITER"); path != "" {
		killedWriterChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "killed.evds")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), "REPLAY_TEST_KILLED_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	written := 0
	for lines.Scan() && written < 50 {
		if _, err := fmt.Sscanf(lines.Text(), "written %d", &written); err != nil {
			continue
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	ds, err := Open(path, Options{AllowTruncatedTail: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Episodes) < written {
		t.Fatalf("file holds %d episodes, the child had written %d", len(ds.Episodes), written)
	}
	for i, ep := range ds.Episodes {
		if ep.Observations[0] != float32(i) {
			t.Fatalf("episode %d has id %v", i, ep.Observations[0])
		}
	}
}

func killedWriterChild(path string) {
	w, err := Create(path, &WriteOptions{SyncEvery: 1000})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	rewards := make([]float32, 300)
	for i := 0; ; i++ {
		if err := w.Write(stepEpisode(float32(i), rewards...)); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		fmt.Printf("written %d\n", i+1)
		if i > 5000 {
			time.Sleep(time.Millisecond)
		}
	}
}

// WriteFile replaces a file atomically: the new episodes read back, no temporary file
// is left, and a failing write leaves the old file untouched.
func TestWriteFileReplaces(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	testEpisode := func(steps int) *Episode { return randomEpisode(rng, "t", steps, 3, 1, 0) }
	dir := t.TempDir()
	path := filepath.Join(dir, "eps.evds")
	first := []*Episode{testEpisode(3)}
	if err := WriteFile(path, first, nil); err != nil {
		t.Fatal(err)
	}
	second := []*Episode{testEpisode(5), testEpisode(2)}
	if err := WriteFile(path, second, &WriteOptions{Compress: true}); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Episodes) != 2 || ds.Episodes[0].Len() != 5 || ds.Episodes[1].Len() != 2 {
		t.Fatalf("read back %d episodes", len(ds.Episodes))
	}
	bad := testEpisode(4)
	bad.Rewards = bad.Rewards[:1] // invalid: the write must fail
	if err := WriteFile(path, []*Episode{testEpisode(1), bad}, nil); err == nil {
		t.Fatal("writing an invalid episode succeeded")
	}
	ds, err = Open(path, Options{})
	if err != nil || len(ds.Episodes) != 2 {
		t.Fatalf("after a failed write the old file should remain: %v, %d episodes", err, len(ds.Episodes))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left %d files in the directory, want 1", len(entries))
	}
}
