package main

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/internal/progress"
	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// evalMoved lists the evaluation keys that no longer exist, under the section at
// prefix ("eval", "finetune.eval", "families.*.finetune.eval"), with what replaces
// them.
func evalMoved(prefix string) []config.Moved {
	return []config.Moved{
		{Key: prefix + ".final", Use: "the final evaluation runs " + prefix + ".test_episodes episodes on the test seeds (" + prefix + ".test_seed)"},
		{Key: prefix + ".seed", Use: "validation and test episodes reset from disjoint seeds now: write " + prefix + ".validation_seed and " + prefix + ".test_seed"},
	}
}

// loadConfig fills dst from the --config file (dst keeps its defaults for keys the
// file does not set; unknown keys are errors naming the key and the file, and the
// moved keys say what replaces them). It reports whether a file was read.
func (a *app) loadConfig(dst any, moved ...config.Moved) (bool, error) {
	if a.configPath == "" {
		return false, nil
	}
	return true, config.Load(a.configPath, dst, moved...)
}

// selectGemm picks the BLAS backend (EVARL_BLAS or the config's choice) and logs it.
func (a *app) selectGemm(choice string) (nn.Gemm, error) {
	if choice == "" || choice == nn.BLASAuto {
		return nn.DefaultGemm(a.log)
	}
	sel, err := nn.SelectGemm(choice)
	if err != nil {
		return nil, err
	}
	a.log.WithFields(sel.Fields()).Info("blas")
	return sel.Gemm, nil
}

// loadEpisodes reads dataset files for tasks (finetune.LoadData), naming the flag
// that accepts a torn last record.
func loadEpisodes(paths []string, tasks []envs.Task, allowTruncated bool) ([]*replay.Episode, error) {
	eps, err := finetune.LoadData(paths, tasks, replay.Options{AllowTruncatedTail: allowTruncated})
	var te *replay.TruncatedError
	if errors.As(err, &te) {
		return nil, te.WithRemedy("pass --allow-truncated to use them")
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (datasets are written by rl-train collect, e.g. --config configs/collect-gridworld-heldout.yaml; rl-train run collects a missing one first)", err)
	}
	return eps, err
}

// progressRecorder shows a run's updates as a progress bar (on a terminal) or
// periodic log lines, from the training rows the library records.
type progressRecorder struct {
	rep  progress.Reporter
	last int
}

// progressRecorder shows the updates from start (a resumed run's) to end.
func (a *app) progressRecorder(name string, start, end int) *progressRecorder {
	return &progressRecorder{rep: progress.New(a.stderr, a.log, name, "updates", end-start, 10*time.Second), last: start}
}

// Record advances the bar to the row's update count.
func (p *progressRecorder) Record(step int, v map[string]float64) error {
	loss, ok := v[agents.MetricTrainLoss]
	if !ok || step <= p.last {
		return nil
	}
	p.rep.Add(step-p.last, logrus.Fields{"step": step, "loss": fmt.Sprintf("%.4g", loss)})
	p.last = step
	return nil
}

// Finish ends the bar.
func (p *progressRecorder) Finish() { p.rep.Finish() }

// checkNonNegative rejects a flag given with a negative value.
func checkNonNegative(name string, v int64, changed bool) error {
	if changed && v < 0 {
		return fmt.Errorf("--%s %d: want ≥ 0", name, v)
	}
	return nil
}

// applyFlags copies into dst every field of flags (a struct of dst's type whose
// fields the command's flags are bound to) whose flag was given: flag names are the
// fields' yaml keys with '-' for '_'. It is the one way flags override a config file
// in every command.
func applyFlags(fs *pflag.FlagSet, dst, flags any) {
	d, f := reflect.ValueOf(dst).Elem(), reflect.ValueOf(flags).Elem()
	for i := 0; i < d.NumField(); i++ {
		key, _, _ := strings.Cut(d.Type().Field(i).Tag.Get("yaml"), ",")
		if key != "" && fs.Changed(strings.ReplaceAll(key, "_", "-")) {
			d.Field(i).Set(f.Field(i))
		}
	}
}

// loadPolicy loads a checkpoint (and adapter, merged) for acting, with the
// --allow-unverified choice.
func (a *app) loadPolicy(checkpoint, adapter string, gemm nn.Gemm) (*policy.Model, error) {
	m, err := finetune.LoadPolicyWith(checkpoint, adapter, finetune.LoadOptions{Gemm: gemm, AllowUnverified: a.allowUnverified})
	if errors.Is(err, safetensors.ErrUnverified) || errors.Is(err, policy.ErrUnverified) {
		err = fmt.Errorf("%w (rl-train: --allow-unverified loads files without evarl checksums)", err)
	}
	return m, err
}
