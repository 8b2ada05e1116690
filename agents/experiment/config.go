package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/agents/stats"
	"github.com/evarl/evarl/internal/config"
)

// Config is an experiment (configs/experiments/*.yaml): methods × modes × task
// suites × seeds.
type Config struct {
	// OutDir receives results.md, results.json and the figures.
	OutDir string `yaml:"out_dir"`
	// RunsDir holds one run directory per run (see Run.Dir).
	RunsDir string `yaml:"runs_dir"`
	// Seeds are the run seeds (each run's training stream); the validation and test
	// seeds are the families' eval sections'.
	Seeds []uint64 `yaml:"seeds"`
	// Modes are offline and/or online.
	Modes []string `yaml:"modes"`
	// Variants are the methods compared.
	Variants []Variant `yaml:"variants"`
	// Families are the task suites and their fine-tuning settings.
	Families []Family `yaml:"families"`
	// LRFrom names an lr_choice.json written by a learning-rate sweep experiment:
	// variants without an lr of their own take the one chosen there on validation
	// seeds for their family and mode.
	LRFrom string `yaml:"lr_from"`
	// Stats configures the bootstrap (reps, confidence).
	Stats stats.Config `yaml:"stats"`
	// Workers is the number of runs executed at once by the local backend (0: one
	// per CPU); each run then uses one core.
	Workers int `yaml:"workers"`
	// Slurm configures the Slurm backend (package slurm, `rl-train experiment
	// CONFIG --slurm`): partition, time limit, CPUs and memory of each array task,
	// and the job script.
	Slurm SlurmConfig `yaml:"slurm"`
}

// Variant is one compared method: a fine-tuning method and what it changes in the
// family's fine-tuning config.
type Variant struct {
	// Name labels the variant in tables, e.g. eva-rho2.
	Name string `yaml:"name"`
	// Method is full, lora, pissa, olora or eva.
	Method string `yaml:"method"`
	// Rho is EVA's rho (eva only; 0 keeps the family's).
	Rho float64 `yaml:"rho"`
	// DoRA turns the adapters into DoRA (lora.use_dora).
	DoRA bool `yaml:"dora"`
	// LR sets the learning rate of both modes' optimisers (0: the family's, or the
	// sweep's choice with lr_from).
	LR float64 `yaml:"lr"`
	// LRs makes this a learning-rate sweep: one variant per rate, named name@lr.
	LRs []float64 `yaml:"lrs"`
	// LRAs takes, with lr_from, the rate the sweep chose for that variant name
	// ("" : this variant's own name), e.g. eva-rho2 with lr_as: eva.
	LRAs string `yaml:"lr_as"`
	// Set overrides keys of the family's finetune section by dotted path, e.g.
	// {lora.target_modules: [all], eva.source: dataset}.
	Set map[string]any `yaml:"set"`
}

// Family is a task suite and how to fine-tune on it; method, mode, seed, task and
// run_dir are set per run.
type Family struct {
	Name string `yaml:"name"`
	// Modes overrides the experiment's modes.
	Modes []string `yaml:"modes"`
	// Collect makes the data when a dataset is missing.
	Collect collect.Config `yaml:"collect"`
	// Finetune is the fine-tuning of one task of the suite.
	Finetune FamilyFinetune `yaml:"finetune"`
	// Tasks, when > 0, keeps the first Tasks tasks of the suite (a sweep runs on a
	// few).
	Tasks int `yaml:"tasks"`
	// LRFamily names the sweep family whose chosen rates this family takes with
	// lr_from ("": its own name).
	LRFamily string `yaml:"lr_family"`
	// OfflineFrom names the family whose offline runs are the counterparts of this
	// family's online runs — the same variant, task and seed, fine-tuned offline
	// only — so that results show what the online phase adds ("": the family's own
	// offline mode, when it has one).
	OfflineFrom string `yaml:"offline_from"`
}

// FamilyFinetune is a family's fine-tuning section: the base, the suite, the data and
// the finetune.Config inline.
type FamilyFinetune struct {
	Base            string   `yaml:"base"`
	Tasks           string   `yaml:"tasks"` // the suite: a task set key or comma-separated task ids; one run per task
	Datasets        []string `yaml:"datasets"`
	finetune.Config `yaml:",inline"`
}

// UnmarshalYAML fills a family with the collect and finetune defaults before the
// file's keys, as top-level configs are filled, and keeps unknown keys errors.
func (f *Family) UnmarshalYAML(node *yaml.Node) error {
	type plain Family
	p := plain{Collect: collect.DefaultConfig(), Finetune: FamilyFinetune{Config: finetune.DefaultConfig()}}
	if err := config.DecodeNode(node, &p); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return te // merged into the file's errors, which name the keys' paths
		}
		return fmt.Errorf("family at line %d: %w", node.Line, err)
	}
	*f = Family(p)
	return nil
}

func decodeStrict(node *yaml.Node, dst any) error {
	data, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(dst)
}

// DefaultConfig has the stats defaults, one run per CPU and the Slurm defaults.
func DefaultConfig() Config { return Config{Stats: stats.DefaultConfig(), Slurm: DefaultSlurmConfig()} }

// modes are the family's own modes, or the experiment's.
func (f Family) modes(all []string) []string {
	if len(f.Modes) > 0 {
		return f.Modes
	}
	return all
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.OutDir == "" || c.RunsDir == "":
		return fmt.Errorf("experiment: out_dir and runs_dir must be set")
	case len(c.Seeds) == 0 || len(c.Modes) == 0 || len(c.Variants) == 0 || len(c.Families) == 0:
		return fmt.Errorf("experiment: seeds, modes, variants and families must each list at least one entry")
	case c.Workers < 0:
		return fmt.Errorf("experiment: workers = %d, want ≥ 0 (0: one per CPU)", c.Workers)
	}
	if err := c.Slurm.Validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, v := range c.Variants {
		switch {
		case v.Name == "" || strings.ContainsAny(v.Name, `/\ @`):
			return fmt.Errorf("experiment: variant name %q: want a plain name without spaces, slashes or @", v.Name)
		case seen[v.Name]:
			return fmt.Errorf("experiment: variant %s appears twice", v.Name)
		case v.Rho != 0 && (v.Method != finetune.MethodEVA || v.Rho < 1):
			return fmt.Errorf("experiment: variant %s: rho %v applies to method eva only and must be ≥ 1", v.Name, v.Rho)
		case v.LR < 0 || math.IsNaN(v.LR) || math.IsInf(v.LR, 0):
			return fmt.Errorf("experiment: variant %s: lr %v, want a finite number > 0 (or 0: the family's)", v.Name, v.LR)
		case v.LR != 0 && len(v.LRs) > 0:
			return fmt.Errorf("experiment: variant %s: give lr or lrs, not both", v.Name)
		}
		for _, lr := range v.LRs {
			if !(lr > 0) || math.IsInf(lr, 0) {
				return fmt.Errorf("experiment: variant %s: lrs entry %v, want finite numbers > 0", v.Name, lr)
			}
		}
		seen[v.Name] = true
	}
	fams := map[string]bool{}
	for _, f := range c.Families {
		switch {
		case f.Name == "" || strings.ContainsAny(f.Name, `/\ `):
			return fmt.Errorf("experiment: family name %q: want a plain name", f.Name)
		case f.Name == SlurmDir || f.Name == LocalDir:
			return fmt.Errorf("experiment: family name %q: reserved (runs_dir/%s holds the experiment's own files); choose another", f.Name, f.Name)
		case fams[f.Name]:
			return fmt.Errorf("experiment: family %s appears twice", f.Name)
		case f.Tasks < 0:
			return fmt.Errorf("experiment: family %s: tasks = %d, want ≥ 0", f.Name, f.Tasks)
		case f.Finetune.Base == "" || f.Finetune.Tasks == "" || len(f.Finetune.Datasets) == 0:
			return fmt.Errorf("experiment: family %s: finetune.base, finetune.tasks and finetune.datasets must be set", f.Name)
		}
		fams[f.Name] = true
		if f.OfflineFrom != "" {
			var from *Family
			for i := range c.Families {
				if c.Families[i].Name == f.OfflineFrom {
					from = &c.Families[i]
				}
			}
			switch {
			case from == nil:
				return fmt.Errorf("experiment: family %s: offline_from = %q names no family", f.Name, f.OfflineFrom)
			case !slices.Contains(from.modes(c.Modes), finetune.ModeOffline):
				return fmt.Errorf("experiment: family %s: offline_from = %q, a family without offline mode", f.Name, f.OfflineFrom)
			case !slices.Contains(f.modes(c.Modes), finetune.ModeOnline):
				return fmt.Errorf("experiment: family %s: offline_from is set but the family has no online mode", f.Name)
			}
		}
		for _, m := range f.modes(c.Modes) {
			if m != finetune.ModeOffline && m != finetune.ModeOnline {
				return fmt.Errorf("experiment: family %s: mode %q, want %s or %s", f.Name, m, finetune.ModeOffline, finetune.ModeOnline)
			}
		}
	}
	return nil
}

// expandVariants turns sweep variants (lrs) into one variant per rate.
func (c Config) expandVariants() []Variant {
	var out []Variant
	for _, v := range c.Variants {
		if len(v.LRs) == 0 {
			out = append(out, v)
			continue
		}
		for _, lr := range v.LRs {
			w := v
			w.LRs, w.LR = nil, lr
			w.Name = fmt.Sprintf("%s@%g", v.Name, lr)
			out = append(out, w)
		}
	}
	return out
}

// IsSweep reports whether the experiment sweeps learning rates.
func (c Config) IsSweep() bool {
	for _, v := range c.Variants {
		if len(v.LRs) > 0 {
			return true
		}
	}
	return false
}

// setPath sets a dotted key of a YAML mapping node to value.
func setPath(node *yaml.Node, path []string, value any) error {
	if node.Kind == yaml.DocumentNode {
		node = node.Content[0]
	}
	for len(path) > 0 {
		if node.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a section", path[0])
		}
		key := path[0]
		var child *yaml.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				child = node.Content[i+1]
			}
		}
		if len(path) == 1 {
			var v yaml.Node
			if err := v.Encode(value); err != nil {
				return err
			}
			if child != nil {
				*child = v
			} else {
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &v)
			}
			return nil
		}
		if child == nil {
			child = &yaml.Node{Kind: yaml.MappingNode}
			node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, child)
		}
		node, path = child, path[1:]
	}
	return nil
}
