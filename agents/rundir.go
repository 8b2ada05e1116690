package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/metrics"
)

// RunDir is a training run's directory: the config it was started with
// (RunConfigFile), best/ and last/ checkpoints, a metrics file and results. The
// fine-tuning and pretraining packages keep their runs in one. Its methods hold the
// rules that make a run safe to interrupt and to repeat: a run is never replaced
// without being asked to, a resumed run must have the config it was started with
// (but for the fields that may change), and checkpoints are swapped in whole.
type RunDir struct {
	// Path is the directory.
	Path string
	// Metrics is the metrics file's name in it (".jsonl" or ".csv").
	Metrics string
}

// RunConfigFile is the resolved config of a run, as YAML, compared on resume.
const RunConfigFile = "config.yaml"

// Claim makes the directory and records cfg in it. A directory that already holds
// any of the run's files (owned, plus the config, metrics and checkpoints) is
// refused unless overwrite, which removes them first.
func (d RunDir) Claim(cfg any, overwrite bool, owned ...string) error {
	owned = append(owned, RunConfigFile, d.Metrics, "best", "last")
	for _, kind := range []string{"best", "last"} {
		tmp, old := atomicfile.Siblings(filepath.Join(d.Path, kind))
		owned = append(owned, filepath.Base(tmp), filepath.Base(old))
	}
	var found []string
	for _, name := range owned {
		if _, err := os.Stat(filepath.Join(d.Path, name)); err == nil {
			found = append(found, name)
		}
	}
	if len(found) > 0 {
		if !overwrite {
			return fmt.Errorf("run directory %s already holds a run (%s): resume it, overwrite it, or choose another directory",
				d.Path, strings.Join(found, ", "))
		}
		for _, name := range found {
			if err := os.RemoveAll(filepath.Join(d.Path, name)); err != nil {
				return fmt.Errorf("overwrite %s: %w", d.Path, err)
			}
		}
	}
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("record the config: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(d.Path, RunConfigFile), data)
}

// CheckResume compares cfg with the config the run was started with and lists every
// changed field (yaml names, dotted) that is not among resumable.
func (d RunDir) CheckResume(cfg any, resumable []string) error {
	path := filepath.Join(d.Path, RunConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var saved map[string]any
	if err := yaml.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	data, err = yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	var now map[string]any
	if err := yaml.Unmarshal(data, &now); err != nil {
		return err
	}
	old, cur := map[string]string{}, map[string]string{}
	flatten("", saved, old)
	flatten("", now, cur)
	allowed := map[string]bool{}
	for _, f := range resumable {
		allowed[f] = true
	}
	var changed []string
	for k, v := range cur {
		if was, ok := old[k]; (!ok || was != v) && !allowed[k] {
			changed = append(changed, fmt.Sprintf("%s (%s → %s)", k, orNone(was, ok), v))
		}
	}
	for k, v := range old {
		if _, ok := cur[k]; !ok && !allowed[k] {
			changed = append(changed, fmt.Sprintf("%s (%s → none)", k, v))
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		return fmt.Errorf("resume %s: the config differs from the run's in %s; only %s may change on resume (start a new run for the rest)",
			d.Path, strings.Join(changed, ", "), strings.Join(resumable, ", "))
	}
	return nil
}

func orNone(s string, ok bool) string {
	if !ok {
		return "none"
	}
	return s
}

// flatten writes every leaf of a decoded YAML value as "a.b.c" → its text.
func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, x := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, x, out)
		}
		return
	}
	out[prefix] = fmt.Sprint(v)
}

// Checkpoint is the path of checkpoint kind ("best" or "last"), repaired first if a
// crash interrupted its replacement (atomicfile.RecoverDir).
func (d RunDir) Checkpoint(kind string) (string, error) {
	dir := filepath.Join(d.Path, kind)
	if err := atomicfile.RecoverDir(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// HasCheckpoint reports whether checkpoint kind exists and is complete (it has a
// trainer state, the last file a checkpoint gets). It only looks, never repairs:
// other processes ask it about a run (an experiment's --status and --merge, a Slurm
// status query) while the run's own process may be writing that very checkpoint,
// and removing its temporary directory, as Checkpoint's repair does, would break
// the save. The repair is left to Checkpoint, which the run's process calls when it
// resumes. Where the system cannot exchange two directories, a crash during a
// replacement leaves the complete old checkpoint aside with none at its place;
// that counts as a checkpoint, which Checkpoint puts back.
func (d RunDir) HasCheckpoint(kind string) bool {
	dir := filepath.Join(d.Path, kind)
	if _, err := os.Stat(filepath.Join(dir, TrainStateFile)); err == nil {
		return true
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	_, old := atomicfile.Siblings(dir)
	_, err := os.Stat(filepath.Join(old, TrainStateFile))
	return err == nil
}

// SaveCheckpoint writes checkpoint kind with write into a temporary directory and
// puts it in place of the old one whole (atomicfile.CreateDir: one exchange on
// Linux, two renames that Checkpoint repairs elsewhere), so dir/kind is always a
// complete checkpoint. A failed write leaves no temporary directory behind (a full
// disk must not leave an empty temporary directory).
func (d RunDir) SaveCheckpoint(kind string, write func(dir string) error) error {
	tmp, err := atomicfile.CreateDir(filepath.Join(d.Path, kind))
	if err != nil {
		return fmt.Errorf("save %s: %w", kind, err)
	}
	defer tmp.Abort()
	if err := write(tmp.Path()); err != nil {
		return fmt.Errorf("save %s: %w", kind, err)
	}
	if err := tmp.Commit(); err != nil {
		return fmt.Errorf("save %s: %w", kind, err)
	}
	return nil
}

// OpenMetrics opens the run's metrics file. For a resumed run (resumed not nil) it
// keeps the rows logged up to the checkpoint's update count, but an evaluation row
// at that count when the checkpoint says its evaluation did not finish (it is
// redone); a new run starts the file empty.
func (d RunDir) OpenMetrics(columns []string, resumed *LoopState) (*metrics.Logger, error) {
	var keep func(metrics.Row) bool
	if resumed != nil {
		st := *resumed
		keep = func(r metrics.Row) bool {
			if r.Step != st.Step {
				return r.Step < st.Step
			}
			_, isEval := r.Values[MetricEvalScore]
			return !isEval || st.Evaluated
		}
	}
	return metrics.Open(filepath.Join(d.Path, d.Metrics), columns, keep)
}

// WriteJSON writes v as indented JSON into the run directory, atomically.
func (d RunDir) WriteJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return atomicfile.WriteFile(filepath.Join(d.Path, name), append(data, '\n'))
}

// ReadJSON decodes the run directory's file name into v.
func (d RunDir) ReadJSON(name string, v any) error {
	path := filepath.Join(d.Path, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// MetricColumns fixes the CSV header of a training run's metrics file.
var MetricColumns = []string{MetricTrainLoss, MetricTrainGradNorm, MetricTrainLR, MetricElapsed,
	MetricEvalScore, MetricEvalReturn, MetricEvalNormalized, MetricEvalSuccess, MetricEvalSeconds,
	MetricOnlineIteration, MetricExploreReturn, MetricExploreLength, MetricExploreSuccess,
	MetricBufferOnlineShare, MetricBufferOnlineReturn, MetricBufferOfflineReturn, MetricTemperature, MetricEntropy}
