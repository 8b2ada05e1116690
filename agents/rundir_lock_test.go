//go:build unix

package agents

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The run directory's lock excludes a second holder, in this process or another,
// until it is released or its process is killed, and creates the directory.
func TestLockRunDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	unlock, err := LockRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the lock did not create the directory: %v", err)
	}
	if _, err := LockRunDir(dir); !errors.Is(err, ErrRunDirInUse) {
		t.Fatalf("second lock: %v, want ErrRunDirInUse", err)
	}
	unlock()
	again, err := LockRunDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the lock left %d files in the directory", len(entries))
	}

	// Another process holds it until killed (SIGKILL: no chance to unlock).
	child := exec.Command(os.Args[0], "-test.run", "^TestLockRunDirHelper$")
	child.Env = append(os.Environ(), "EVARL_LOCK_HELPER="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	if _, err := LockRunDir(dir); !errors.Is(err, ErrRunDirInUse) {
		t.Fatalf("lock held by another process: %v, want ErrRunDirInUse", err)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	after, err := LockRunDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	after()
}

// TestLockRunDirHelper is the other process of TestLockRunDir: it takes the lock,
// says so and waits to be killed.
func TestLockRunDirHelper(t *testing.T) {
	dir := os.Getenv("EVARL_LOCK_HELPER")
	if dir == "" {
		t.Skip("run by TestLockRunDir")
	}
	if _, err := LockRunDir(dir); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Hour)
}
