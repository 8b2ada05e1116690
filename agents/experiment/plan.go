package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// RunSpec is what one run fine-tunes: the resolved config of one (family, task,
// mode, variant, seed), everything the run's result depends on.
type RunSpec struct {
	Base            string   `yaml:"base"`
	Task            string   `yaml:"task"`
	Datasets        []string `yaml:"datasets"`
	finetune.Config `yaml:",inline"`
}

// Run is one run of an experiment.
type Run struct {
	// Index is the run's position in the plan (a Slurm array index).
	Index int `json:"index"`
	// Family, Task, Mode, Variant and Seed identify the run in tables.
	Family  string `json:"family"`
	Task    string `json:"task"`
	Mode    string `json:"mode"`
	Variant string `json:"variant"`
	Seed    uint64 `json:"seed"`
	// Key is the SHA-256 of the run's resolved spec and of the files it reads (the
	// base checkpoint, the datasets): a run whose key changed is stale and runs
	// again; one whose key did not is reused.
	Key string `json:"key"`
	// Dir is the run directory: runs_dir/family/task/mode/variant/seedN.
	Dir string `json:"dir"`
	// Spec is the resolved fine-tuning config.
	Spec RunSpec `json:"-"`
}

// Plan lists an experiment's runs in a fixed order: family, task, mode, variant,
// seed.
type Plan struct {
	Config Config
	Runs   []Run
	// Variants are the compared variants after expanding learning-rate sweeps.
	Variants []Variant
	// Tasks lists each family's tasks, in suite order.
	Tasks map[string][]envs.Task
	// baseKeys hash each family's base checkpoint and datasets.
	baseKeys map[string]string
}

// NewPlan resolves every run of cfg. The families' datasets must exist (collect them
// first: EnsureData): the run keys hash them.
func NewPlan(cfg Config) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plan{Config: cfg, Variants: cfg.expandVariants(), Tasks: map[string][]envs.Task{}, baseKeys: map[string]string{}}
	var choice map[string]float64
	if cfg.LRFrom != "" {
		var err error
		if choice, err = ReadLRChoice(cfg.LRFrom); err != nil {
			return nil, err
		}
	}
	for _, fam := range cfg.Families {
		tasks, err := envs.ResolveTasks(fam.Finetune.Tasks)
		if err != nil {
			return nil, fmt.Errorf("experiment: family %s: tasks: %w", fam.Name, err)
		}
		if fam.Tasks > 0 && fam.Tasks < len(tasks) {
			tasks = tasks[:fam.Tasks]
		}
		p.Tasks[fam.Name] = tasks
		files := append([]string{filepath.Join(fam.Finetune.Base, "config.json"), filepath.Join(fam.Finetune.Base, "model.safetensors")}, fam.Finetune.Datasets...)
		if p.baseKeys[fam.Name], err = hashFiles(files); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w (run keys hash the base and the data: EnsureData, which `rl-train experiment CONFIG` runs first, collects missing data)", err)
			}
			return nil, fmt.Errorf("experiment: family %s: %w", fam.Name, err)
		}
		// Every run's adapters are checked against the base now: a typo in one
		// variant is an error before any run starts, not a failed run hours later.
		base, err := policy.Load(fam.Finetune.Base, nn.GonumGemm{})
		if err != nil {
			return nil, fmt.Errorf("experiment: family %s: base: %w", fam.Name, err)
		}
		for _, task := range tasks {
			for _, mode := range fam.modes(cfg.Modes) {
				for _, v := range p.Variants {
					spec, err := resolve(fam, task.ID, mode, v, choice)
					if err != nil {
						return nil, fmt.Errorf("experiment: family %s, variant %s: %w", fam.Name, v.Name, err)
					}
					if err := finetune.CheckAdapters(base, spec.Config); err != nil {
						return nil, fmt.Errorf("experiment: family %s, mode %s, variant %s: %w", fam.Name, mode, v.Name, err)
					}
					for _, seed := range cfg.Seeds {
						spec.Seed = seed
						r := Run{Index: len(p.Runs), Family: fam.Name, Task: task.ID, Mode: mode, Variant: v.Name, Seed: seed, Spec: spec}
						r.Dir = filepath.Join(cfg.RunsDir, fam.Name, fileName(task.ID), mode, v.Name, fmt.Sprintf("seed%d", seed))
						if r.Key, err = runKey(spec, p.baseKeys[fam.Name]); err != nil {
							return nil, err
						}
						p.Runs = append(p.Runs, r)
					}
				}
			}
		}
	}
	return p, nil
}

// resolve applies a variant to a family's fine-tuning section for one task and mode.
func resolve(fam Family, task, mode string, v Variant, choice map[string]float64) (RunSpec, error) {
	spec := RunSpec{Base: fam.Finetune.Base, Task: task, Datasets: fam.Finetune.Datasets, Config: fam.Finetune.Config}
	spec.Method, spec.Mode = v.Method, mode
	if v.Rho != 0 {
		spec.EVA.Rho = v.Rho
	}
	if v.DoRA {
		spec.LoRA.UseDoRA = true
	}
	lr := v.LR
	if lr == 0 && choice != nil {
		name := v.Name
		if v.LRAs != "" {
			name = v.LRAs
		}
		family := fam.Name
		if fam.LRFamily != "" {
			family = fam.LRFamily
		}
		var ok bool
		if lr, ok = choice[lrKey(family, mode, name)]; !ok {
			// A sweep of the offline mode sets the online mode's rate too.
			if lr, ok = choice[lrKey(family, "offline", name)]; !ok {
				return spec, fmt.Errorf("lr_from has no rate for family %s, variant %s (set lr, lr_as a swept variant, or lr_family)", family, name)
			}
		}
	}
	if lr > 0 {
		spec.Train.Schedule.LR = lr
		spec.Online.Schedule.LR = lr
	}
	if len(v.Set) > 0 {
		var node yaml.Node
		if err := node.Encode(spec.Config); err != nil {
			return spec, err
		}
		keys := make([]string, 0, len(v.Set))
		for k := range v.Set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := setPath(&node, strings.Split(k, "."), v.Set[k]); err != nil {
				return spec, fmt.Errorf("set %s: %w", k, err)
			}
		}
		// Decode into a zero config: the node holds every field, and decoding into
		// the old value would merge maps (rank_pattern) instead of replacing them.
		var cfg finetune.Config
		if err := decodeStrict(&node, &cfg); err != nil {
			return spec, fmt.Errorf("set: %w", err)
		}
		spec.Config = cfg
	}
	if err := spec.Config.Validate(); err != nil {
		return spec, err
	}
	return spec, nil
}

// runKey hashes a run's spec with the hash of its input files.
func runKey(spec RunSpec, files string) (string, error) {
	data, err := yaml.Marshal(spec)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(data)
	h.Write([]byte(files))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFiles is the SHA-256 of the files' names and contents, in order.
func hashFiles(paths []string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		h.Write([]byte(p))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileName turns a task id into a path element.
func fileName(id string) string { return strings.ReplaceAll(id, "/", "_") }

// lrKey names a variant's learning rate in an lr_choice.json.
func lrKey(family, mode, variant string) string { return family + "/" + mode + "/" + variant }

// ReadLRChoice reads the learning rates a sweep chose.
func ReadLRChoice(path string) (map[string]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("experiment: lr_from: %w", err)
	}
	var c LRChoice
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("experiment: lr_from %s: %w", path, err)
	}
	out := map[string]float64{}
	for _, e := range c.Chosen {
		out[lrKey(e.Family, e.Mode, e.Variant)] = e.LR
	}
	return out, nil
}
