package envs

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// Spec describes a registered environment, as Gymnasium's EnvSpec does.
type Spec struct {
	// ID is the versioned name used by Make, e.g. "CartPole-v1".
	ID string
	// Family groups the environment with its task sets, e.g. "cartpole".
	Family string
	// MaxEpisodeSteps is the default time limit; Make wraps the environment in a
	// TimeLimit that truncates there. The option "max_episode_steps" overrides it.
	MaxEpisodeSteps int
	// RewardThreshold is the return at which the task counts as solved, or NaN.
	RewardThreshold float64
	// Description is one line for `rl-train envs`.
	Description string
	// New builds the bare environment (no time limit) from its options. It must
	// reject unknown or invalid options with an error naming them.
	New func(opts Options) (Env, error)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Spec{}
	taskSets   = map[string]TaskSet{}
)

// Register adds an environment to the registry. It is meant for package init
// functions, like image.RegisterFormat; registering an id twice is a programming
// error and panics.
func Register(spec Spec) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[spec.ID]; dup {
		panic("envs: Register called twice for " + spec.ID)
	}
	if spec.New == nil {
		panic("envs: Register " + spec.ID + " without a constructor")
	}
	registry[spec.ID] = spec
}

// Lookup returns the spec registered under id.
func Lookup(id string) (Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := registry[id]
	return s, ok
}

// Specs lists every registered environment, sorted by id.
func Specs() []Spec {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IDs lists the registered environment ids, sorted.
func IDs() []string {
	specs := Specs()
	ids := make([]string, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	return ids
}

// MaxStepsOption is the option key that overrides a spec's MaxEpisodeSteps.
const MaxStepsOption = "max_episode_steps"

// Make builds the environment registered under id with the given options, wrapped in
// a TimeLimit at the spec's (or the overridden) episode length. An unknown id is an
// error that lists the known ones.
func Make(id string, opts Options) (Env, error) {
	spec, ok := Lookup(id)
	if !ok {
		return nil, fmt.Errorf("envs: unknown environment %q; registered: %s (is the package that registers it imported? envs/all imports every one)",
			id, strings.Join(IDs(), ", "))
	}
	maxSteps := spec.MaxEpisodeSteps
	inner := opts
	if _, has := opts[MaxStepsOption]; has {
		r := NewOptionReader(id, Options{MaxStepsOption: opts[MaxStepsOption]})
		maxSteps = r.Int(MaxStepsOption, maxSteps, 1, math.MaxInt32)
		if err := r.Finish(); err != nil {
			return nil, err
		}
		inner = opts.Clone()
		delete(inner, MaxStepsOption)
	}
	env, err := spec.New(inner)
	if err != nil {
		return nil, fmt.Errorf("envs: make %s: %w", id, err)
	}
	return NewTimeLimit(env, maxSteps), nil
}

// Task is one member of a task family: an environment id plus the options that make
// the variant (physical parameters, a layout seed, a permutation of actions).
type Task struct {
	// ID names the task uniquely within its family, e.g. "cartpole/long-pole-1.2".
	ID string
	// EnvID is the registered environment id.
	EnvID string
	// Options configure the variant; nil means the environment's defaults.
	Options Options
}

// Make builds the task's environment (with its time limit).
func (t Task) Make() (Env, error) { return Make(t.EnvID, t.Options) }

// TaskSet is a named list of tasks of one family, such as the pretraining set or the
// held-out set used to measure adaptation.
type TaskSet struct {
	// Family is the environment family, e.g. "gridworld".
	Family string
	// Name is the set's name within the family: "pretrain", "heldout", …
	Name string
	// Tasks are the members, in a fixed order.
	Tasks []Task
}

// Key is "family/name", the way configs refer to a task set.
func (s TaskSet) Key() string { return s.Family + "/" + s.Name }

// RegisterTaskSet adds a task set; like Register, it is for init functions and panics
// on a duplicate.
func RegisterTaskSet(set TaskSet) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := taskSets[set.Key()]; dup {
		panic("envs: RegisterTaskSet called twice for " + set.Key())
	}
	taskSets[set.Key()] = set
}

// LookupTaskSet returns the set registered as family/name, or an error listing the
// registered sets.
func LookupTaskSet(key string) (TaskSet, error) {
	registryMu.RLock()
	s, ok := taskSets[key]
	registryMu.RUnlock()
	if !ok {
		keys := make([]string, 0)
		for _, t := range TaskSets() {
			keys = append(keys, t.Key())
		}
		return TaskSet{}, fmt.Errorf("envs: unknown task set %q; registered: %s", key, strings.Join(keys, ", "))
	}
	return s, nil
}

// TaskSets lists every registered task set, sorted by key.
func TaskSets() []TaskSet {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]TaskSet, 0, len(taskSets))
	for _, s := range taskSets {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// ResolveTasks turns a task specification into tasks: a task set key ("gridworld/
// heldout"), or a comma-separated list of task ids from registered task sets
// ("gridworld/heldout-01,gridworld/heldout-02"). Unknown names are errors that list
// what is registered.
func ResolveTasks(spec string) ([]Task, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("envs: empty task specification; want a task set such as gridworld/heldout or task ids")
	}
	if set, err := LookupTaskSet(spec); err == nil {
		return set.Tasks, nil
	}
	byID := map[string]Task{}
	for _, set := range TaskSets() {
		for _, t := range set.Tasks {
			byID[t.ID] = t
		}
	}
	var out []Task
	seen := map[string]bool{}
	for _, id := range strings.Split(spec, ",") {
		id = strings.TrimSpace(id)
		t, ok := byID[id]
		if !ok {
			keys := make([]string, 0)
			for _, s := range TaskSets() {
				keys = append(keys, s.Key())
			}
			return nil, fmt.Errorf("envs: %q is neither a task set (%s) nor a task id of one (e.g. %s-00)", id, strings.Join(keys, ", "), keys[0])
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, t)
		}
	}
	return out, nil
}
