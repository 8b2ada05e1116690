package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/config"
)

// Snapshot is the plan's config as a YAML file, header its first comment line,
// checked to load back into the same runs with the same keys and directories. Run
// processes read a snapshot instead of the user's config file, so that editing the
// config while an experiment runs changes none of the runs already launched or
// queued (the new config takes effect when the experiment is started again, and
// reruns exactly the runs it changes).
func Snapshot(p *Plan, header string) ([]byte, error) {
	data, err := yaml.Marshal(p.Config)
	if err != nil {
		return nil, fmt.Errorf("experiment: config snapshot: %w", err)
	}
	data = append([]byte("# "+header+"\n"), data...)
	back := DefaultConfig()
	if err := config.Decode("the config snapshot", data, &back); err != nil {
		return nil, fmt.Errorf("experiment: the config snapshot does not load back: %w", err)
	}
	q, err := NewPlan(back)
	if err != nil {
		return nil, fmt.Errorf("experiment: the config snapshot: %w", err)
	}
	if len(q.Runs) != len(p.Runs) {
		return nil, fmt.Errorf("experiment: the config snapshot plans %d runs, the config %d", len(q.Runs), len(p.Runs))
	}
	for i := range q.Runs {
		if q.Runs[i].Key != p.Runs[i].Key || q.Runs[i].Dir != p.Runs[i].Dir {
			return nil, fmt.Errorf("experiment: the config snapshot gives run %d another key or directory than the config", i)
		}
	}
	return data, nil
}

// SnapshotPath is where a snapshot of these bytes lives in dir: named by the first
// 12 hex digits of its SHA-256, so that snapshots of different configs coexist.
func SnapshotPath(dir string, snapshot []byte) string {
	h := sha256.Sum256(snapshot)
	return filepath.Join(dir, "config-"+hex.EncodeToString(h[:])[:12]+".yaml")
}

// WriteSnapshot writes the plan's Snapshot into dir (created if missing) and
// returns its path.
func WriteSnapshot(p *Plan, dir, header string) (string, error) {
	snapshot, err := Snapshot(p, header)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("experiment: config snapshot: %w", err)
	}
	path := SnapshotPath(dir, snapshot)
	if err := atomicfile.WriteFile(path, snapshot); err != nil {
		return "", fmt.Errorf("experiment: config snapshot: %w", err)
	}
	return path, nil
}
