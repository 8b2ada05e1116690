package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// names lists dir's entries, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got := read(t, path); got != content {
			t.Errorf("content = %q, want %q", got, content)
		}
	}
	if got := names(t, dir); strings.Join(got, ",") != "a.json" {
		t.Errorf("directory holds %v, want only a.json", got)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != Mode {
		t.Errorf("mode = %v, want %v", st.Mode().Perm(), Mode)
	}
}

func TestWriteErrorKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half a fi"))
		return errors.New("disk full")
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write error = %v, want one naming %s and the cause", err, path)
	}
	if got := read(t, path); got != "old" {
		t.Errorf("file = %q after a failed write, want the old content", got)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v after a failed write, want the file only (temporary removed)", got)
	}
}

func TestWriteIntoMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "a")
	if err := WriteFile(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteFile into a missing directory: error = %v, want one naming %s", err, path)
	}
}

func TestFileAbortAndDoubleCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.gif")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial")
	f.Abort()
	f.Abort() // idempotent
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("after Abort the directory holds %v, want nothing", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort: want an error")
	}
}

func TestPublishRefusesExistingAndKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.evds")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("header|")
	if err := f.Publish(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "header|" {
		t.Errorf("after Publish the destination holds %q, want the header", got)
	}
	f.WriteString("record")
	f.Close()
	if got := read(t, path); got != "header|record" {
		t.Errorf("writes after Publish: destination holds %q", got)
	}
	if got := names(t, dir); strings.Join(got, ",") != "data.evds" {
		t.Errorf("directory holds %v, want only data.evds", got)
	}

	g, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	g.WriteString("other")
	if err := g.Publish(); !errors.Is(err, ErrExist) {
		t.Errorf("Publish over an existing file: error = %v, want ErrExist", err)
	}
	if got := read(t, path); got != "header|record" {
		t.Errorf("a refused Publish changed the destination to %q", got)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("a refused Publish left %v", got)
	}
}

func TestDirCommitReplacesWhole(t *testing.T) {
	root := t.TempDir()
	dest := filepath.Join(root, "run", "best")
	for i, files := range [][]string{{"config.json", "model.safetensors", "stale.txt"}, {"config.json", "model.safetensors"}} {
		d, err := CreateDir(dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range files {
			if err := os.WriteFile(d.Join(n), []byte(n+string(rune('0'+i))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(names(t, dest), ","), strings.Join(files, ","); got != want {
			t.Errorf("round %d: destination holds %s, want %s (old files must not mix in)", i, got, want)
		}
		if got := read(t, filepath.Join(dest, "config.json")); got != "config.json"+string(rune('0'+i)) {
			t.Errorf("round %d: config.json = %q", i, got)
		}
	}
	if got := names(t, filepath.Dir(dest)); strings.Join(got, ",") != "best" {
		t.Errorf("parent holds %v after two commits, want only best", got)
	}
}

func TestDirLeftoverAndAbort(t *testing.T) {
	root := t.TempDir()
	dest := filepath.Join(root, "last")
	// A crash left a half-written temporary directory.
	if err := os.MkdirAll(filepath.Join(root, ".last.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, ".last.tmp", "half"), []byte("x"), 0o644)
	d, err := CreateDir(dest)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, d.Path()); len(got) != 0 {
		t.Errorf("new temporary directory holds %v, want it empty", got)
	}
	os.WriteFile(d.Join("a"), []byte("a"), 0o644)
	d.Abort()
	if got := names(t, root); len(got) != 0 {
		t.Errorf("after Abort the parent holds %v, want nothing", got)
	}
	if err := d.Commit(); err == nil {
		t.Error("Commit after Abort: want an error")
	}
}

func TestDirCommitOverFile(t *testing.T) {
	root := t.TempDir()
	dest := filepath.Join(root, "best")
	os.WriteFile(dest, []byte("a file"), 0o644)
	d, err := CreateDir(dest)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Commit over a file: error = %v", err)
	}
	if got := names(t, root); strings.Join(got, ",") != "best" {
		t.Errorf("parent holds %v, want the file only", got)
	}
}

func TestExchangeByRenames(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(a, "new"), nil, 0o644)
	os.WriteFile(filepath.Join(b, "old"), nil, 0o644)
	if err := exchangeByRenames(a, b); err != nil {
		t.Fatal(err)
	}
	if got := names(t, b); strings.Join(got, ",") != "new" {
		t.Errorf("b holds %v, want new", got)
	}
	if got := names(t, a); strings.Join(got, ",") != "old" {
		t.Errorf("a holds %v, want old", got)
	}
	if got := names(t, root); strings.Join(got, ",") != "a,b" {
		t.Errorf("root holds %v", got)
	}
}

func TestRecoverDir(t *testing.T) {
	root := t.TempDir()
	dest := filepath.Join(root, "last")
	tmp, old := Siblings(dest)
	// A crash between the two renames of the fallback exchange: the old directory
	// is aside, the new one still temporary.
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, "f"), []byte("old"), 0o644)
	os.MkdirAll(tmp, 0o755)
	if err := RecoverDir(dest); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dest, "f")); got != "old" {
		t.Errorf("recovered %q, want the old directory back", got)
	}
	if got := names(t, root); strings.Join(got, ",") != "last" {
		t.Errorf("after recovery the parent holds %v, want last only", got)
	}
	if err := RecoverDir(filepath.Join(root, "missing")); err != nil {
		t.Errorf("nothing to recover: %v", err)
	}
}
