package experiment

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/replay"
)

// KeyFile holds a run's key in its directory; a run is reused only when it matches.
const KeyFile = "run_key"

// Status of a run.
const (
	StatusDone    = "done"    // results.json written under the current key
	StatusPartial = "partial" // a checkpoint of the current key exists: the run resumes
	StatusFailed  = "failed"  // the last attempt failed (failed file), and no result exists
	StatusMissing = "missing" // never started, or stale (another key)
)

// FailedFile records the error of a run's last failed attempt.
const FailedFile = "failed"

// Status reports what is on disk of run r.
func Status(r Run) string {
	key, err := os.ReadFile(filepath.Join(r.Dir, KeyFile))
	if err != nil || strings.TrimSpace(string(key)) != r.Key {
		return StatusMissing
	}
	if _, err := os.Stat(filepath.Join(r.Dir, finetune.ResultsFile)); err == nil {
		return StatusDone
	}
	if _, err := os.Stat(filepath.Join(r.Dir, FailedFile)); err == nil {
		return StatusFailed
	}
	if (agents.RunDir{Path: r.Dir}).HasCheckpoint("last") {
		return StatusPartial
	}
	return StatusMissing
}

// EnsureData collects every family's data whose datasets are missing.
func EnsureData(ctx context.Context, cfg Config, log logrus.FieldLogger) error {
	for _, fam := range cfg.Families {
		for _, p := range fam.Finetune.Datasets {
			if _, err := os.Stat(p); err == nil {
				continue
			}
			log.WithField("missing", p).WithField("family", fam.Name).Info("collecting")
			if _, err := collect.Collect(ctx, fam.Collect, collect.Options{}); err != nil {
				return fmt.Errorf("experiment: family %s: %w", fam.Name, err)
			}
			break
		}
	}
	return nil
}

// Runner executes runs of a plan in this process, sharing what runs of one family
// and task share: the base policy's test evaluation and the references, computed
// once and kept in runs_dir (base.json beside the task's runs).
type Runner struct {
	Plan *Plan
	Log  logrus.FieldLogger
	// Gemm computes the matrix products (nil: nn.DefaultGemm).
	Gemm nn.Gemm

	mu   sync.Mutex
	data map[string][]*replay.Episode // by family
}

// baseFile is what a task's runs share.
type baseFile struct {
	Key        string              `json:"key"`
	Before     []agents.EvalResult `json:"before"`
	References finetune.References `json:"references"`
}

// RunOne executes run i of the plan: it is skipped when done, resumed when a
// checkpoint of its key exists, started anew otherwise (a stale directory is
// emptied, but for its LogFile, which the local backend's child is writing). A
// failure leaves FailedFile in the run directory with the error. When ctx is
// cancelled (SIGTERM from Slurm at a time limit or preemption, Ctrl-C) during
// training, the run saves last/ and is partial: the next RunOne resumes it there, and
// its results are those of an uninterrupted run; cancelled before its first
// checkpoint, it starts anew.
func (rn *Runner) RunOne(ctx context.Context, i int) (err error) {
	if i < 0 || i >= len(rn.Plan.Runs) {
		return fmt.Errorf("experiment: run %d: the plan has runs 0 to %d", i, len(rn.Plan.Runs)-1)
	}
	r := rn.Plan.Runs[i]
	if Status(r) == StatusDone {
		return nil
	}
	// Another process on this run on this machine (a second experiment, a --run
	// of it, an orphaned child of a killed experiment) is refused before anything
	// in the directory changes; the status is read again under the lock, as that
	// process may have finished the run.
	unlock, err := agents.LockRunDir(r.Dir)
	if err != nil {
		return fmt.Errorf("experiment: run %d: %w", i, err)
	}
	defer unlock()
	status := Status(r)
	if status == StatusDone {
		return nil
	}
	log := rn.log().WithFields(logrus.Fields{"run": i, "family": r.Family, "task": r.Task, "mode": r.Mode, "variant": r.Variant, "seed": r.Seed})
	defer func() {
		if err != nil && ctx.Err() == nil {
			_ = atomicfile.WriteFile(filepath.Join(r.Dir, FailedFile), []byte(err.Error()+"\n"))
		}
	}()
	resume := status == StatusPartial
	if !resume {
		if err := clearDir(r.Dir, LogFile); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(r.Dir, KeyFile), []byte(r.Key+"\n")); err != nil {
			return err
		}
	}
	os.Remove(filepath.Join(r.Dir, FailedFile))
	fam := rn.family(r.Family)
	data, err := rn.familyData(fam)
	if err != nil {
		return err
	}
	tasks, err := envs.ResolveTasks(r.Task)
	if err != nil {
		return err
	}
	gemm := rn.Gemm
	if gemm == nil {
		if gemm, err = nn.DefaultGemm(rn.log()); err != nil {
			return err
		}
	}
	shared, err := rn.base(ctx, r, fam, tasks, data, gemm)
	if err != nil {
		return err
	}
	base, err := finetune.LoadPolicy(r.Spec.Base, "", gemm)
	if err != nil {
		return err
	}
	opts := finetune.Options{RunDir: r.Dir, Base: r.Spec.Base, Log: log, Before: shared.Before, References: &shared.References}
	var tuner *finetune.Tuner
	if resume {
		log.Info("resuming")
		tuner, err = finetune.Resume(ctx, r.Dir, base, tasks, data, r.Spec.Config, opts)
	} else {
		log.Info("starting")
		tuner, err = finetune.New(ctx, base, tasks, data, r.Spec.Config, opts)
	}
	if err != nil {
		return fmt.Errorf("experiment run %d (%s %s %s %s seed %d): %w", i, r.Family, r.Task, r.Mode, r.Variant, r.Seed, err)
	}
	if _, err := tuner.Learn(ctx, nil); err != nil {
		return fmt.Errorf("experiment run %d (%s %s %s %s seed %d): %w", i, r.Family, r.Task, r.Mode, r.Variant, r.Seed, err)
	}
	log.Info("done")
	return nil
}

// clearDir creates dir, or empties it but for the file keep.
func clearDir(dir, keep string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rn *Runner) log() logrus.FieldLogger {
	if rn.Log == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		rn.Log = l
	}
	return rn.Log
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func (rn *Runner) family(name string) Family {
	for _, f := range rn.Plan.Config.Families {
		if f.Name == name {
			return f
		}
	}
	return Family{}
}

// familyData loads a family's datasets once.
func (rn *Runner) familyData(fam Family) ([]*replay.Episode, error) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if eps, ok := rn.data[fam.Name]; ok {
		return eps, nil
	}
	var eps []*replay.Episode
	for _, p := range fam.Finetune.Datasets {
		ds, err := replay.Open(p, replay.Options{})
		if err != nil {
			return nil, fmt.Errorf("experiment: family %s: %w", fam.Name, err)
		}
		eps = append(eps, ds.Episodes...)
	}
	if rn.data == nil {
		rn.data = map[string][]*replay.Episode{}
	}
	rn.data[fam.Name] = eps
	return eps, nil
}

// base loads or computes the base evaluation and references of r's task. Runs that
// compute it at once write the same bytes (it is deterministic), atomically.
func (rn *Runner) base(ctx context.Context, r Run, fam Family, tasks []envs.Task, data []*replay.Episode, gemm nn.Gemm) (*baseFile, error) {
	key, err := runKey(RunSpec{Base: r.Spec.Base, Task: r.Task, Config: finetune.Config{Eval: r.Spec.Eval}}, rn.Plan.baseKeys[fam.Name])
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(rn.Plan.Config.RunsDir, fam.Name, fileName(r.Task))
	store := agents.RunDir{Path: dir}
	name := "base-" + key[:16] + ".json"
	var b baseFile
	if err := store.ReadJSON(name, &b); err == nil && b.Key == key {
		return &b, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	model, err := finetune.LoadPolicy(r.Spec.Base, "", gemm)
	if err != nil {
		return nil, err
	}
	ev := r.Spec.Eval
	b.Key = key
	if b.References.Validation, err = finetune.MeasureReferences(ctx, tasks, refEpisodes(ev, ev.Episodes), ev.ValidationSeed); err != nil {
		return nil, err
	}
	if b.References.Test, err = finetune.MeasureReferences(ctx, tasks, refEpisodes(ev, ev.TestEpisodes), ev.TestSeed); err != nil {
		return nil, err
	}
	tc := agents.EvalConfig{Episodes: ev.TestEpisodes, Targets: ev.Targets, NumEnvs: ev.NumEnvs, Seed: ev.TestSeed, Greedy: ev.Greedy, References: b.References.Test}
	var rng = agentsEvalRand(r.Spec.Config)
	if b.Before, err = agents.Evaluate(ctx, model, tasks, tc, rng); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &b, store.WriteJSON(name, b)
}

func refEpisodes(ev finetune.EvalConfig, n int) int {
	if ev.RefEpisodes > 0 {
		return min(ev.RefEpisodes, n)
	}
	return n
}

// agentsEvalRand is the random source of the base's sampled evaluation actions: the
// same for every run of a task, whatever its seed (nil when greedy).
func agentsEvalRand(cfg finetune.Config) *rand.Rand {
	if cfg.Eval.Greedy {
		return nil
	}
	r, _ := agents.Seed(0).Stream("eval")
	return r
}

// Launcher runs one run of the plan, by index: in this process (Runner.RunOne), or in
// a child process, a Slurm array task, ….
type Launcher func(ctx context.Context, index int) error

// Failure is a run that failed, with where its log is.
type Failure struct {
	Run Run
	Err error
	Log string
}

// RunLocal executes every run of the plan that is not done, workers at a time
// (≤ 0: one per CPU), through launch, in plan order. A failed run does not stop the
// others; the failures are returned (and the error is nil unless ctx was cancelled).
// progress, when set, is called after each run with the counts so far.
func RunLocal(ctx context.Context, p *Plan, workers int, launch Launcher, progress func(done, failed, total int)) ([]Failure, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var todo []int
	for _, r := range p.Runs {
		if Status(r) != StatusDone {
			todo = append(todo, r.Index)
		}
	}
	jobs := make(chan int)
	var mu sync.Mutex
	var failures []Failure
	done := len(p.Runs) - len(todo)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, max(len(todo), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := launch(ctx, i)
				mu.Lock()
				if err != nil && ctx.Err() == nil {
					failures = append(failures, Failure{Run: p.Runs[i], Err: err, Log: filepath.Join(p.Runs[i].Dir, LogFile)})
				} else if err == nil {
					done++
				}
				if progress != nil {
					progress(done, len(failures), len(p.Runs))
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	sort.Slice(failures, func(a, b int) bool { return failures[a].Run.Index < failures[b].Run.Index })
	return failures, ctx.Err()
}

// LogFile is where a run executed in a child process writes its log.
const LogFile = "log.txt"

// SlurmDir is the directory under runs_dir where the Slurm backend keeps its job
// scripts, its record of submissions, the config snapshots the tasks read and the
// tasks' logs.
const SlurmDir = "slurm"

// LocalDir is the directory under runs_dir where the local backend keeps the
// config snapshots its run processes read.
const LocalDir = "local"

// SlurmLog is the log of the Slurm array tasks that execute run i (the array index
// is the plan index): runs_dir/slurm/logs/run-I.log, each attempt appended.
func (p *Plan) SlurmLog(i int) string {
	return filepath.Join(p.Config.RunsDir, SlurmDir, "logs", fmt.Sprintf("run-%d.log", i))
}

// LogFiles lists the logs of run r that exist: its directory's LogFile (the local
// backend's) and its Slurm task log.
func (p *Plan) LogFiles(r Run) []string {
	var out []string
	for _, f := range []string{filepath.Join(r.Dir, LogFile), p.SlurmLog(r.Index)} {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}
