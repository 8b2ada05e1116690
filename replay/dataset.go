package replay

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/evarl/evarl/envs"
)

// Dataset is a set of episodes that share observation and action sizes: the contents
// of an episode file, or episodes collected in memory. Episodes of several tasks (and
// environments of one family) may be mixed; TaskStats summarises them per task.
type Dataset struct {
	// Path is the file the episodes were read from ("" when built in memory).
	Path string
	// Episodes in file order. The dataset owns them; samplers and buffers alias them.
	Episodes []*Episode
	// ObsDim and ActDim are shared by every episode.
	ObsDim, ActDim int
	// DroppedBytes is the size of an incomplete tail that Open skipped because
	// Options.AllowTruncatedTail was set; 0 for a clean file.
	DroppedBytes int64
}

// NewDataset checks that every episode is valid and that they share observation and
// action sizes, and wraps them. An empty list is allowed (ObsDim and ActDim are 0).
func NewDataset(episodes []*Episode) (*Dataset, error) {
	d := &Dataset{Episodes: episodes}
	for i, ep := range episodes {
		if ep == nil {
			return nil, fmt.Errorf("episode %d is nil", i)
		}
		if err := ep.Validate(); err != nil {
			return nil, fmt.Errorf("episode %d: %w", i, err)
		}
		if i == 0 {
			d.ObsDim, d.ActDim = ep.ObsDim, ep.ActDim
		} else if ep.ObsDim != d.ObsDim || ep.ActDim != d.ActDim {
			return nil, fmt.Errorf("episode %d (%s): %w: obs dim %d and action dim %d, episode 0 has %d and %d",
				i, ep.EnvID, ErrDims, ep.ObsDim, ep.ActDim, d.ObsDim, d.ActDim)
		}
	}
	return d, nil
}

// Transitions is the total number of steps over all episodes.
func (d *Dataset) Transitions() int {
	n := 0
	for _, ep := range d.Episodes {
		n += ep.Len()
	}
	return n
}

// name is how errors refer to the dataset.
func (d *Dataset) name() string {
	if d.Path == "" {
		return "dataset"
	}
	return "dataset " + d.Path
}

// CheckSpaces reports whether the episodes fit an environment with these spaces: the
// same observation and action sizes and, for a discrete action space, every action
// an index within it. Training on a dataset of another environment fails here with
// an error naming the file, rather than with nonsense later.
func (d *Dataset) CheckSpaces(obs, act envs.Space) error {
	if len(d.Episodes) == 0 {
		return fmt.Errorf("replay: %s: %w", d.name(), ErrEmpty)
	}
	if d.ObsDim != obs.Dim() || d.ActDim != act.Dim() {
		return fmt.Errorf("replay: %s: %w: observations have %d values and actions %d; the environment has %v (%d) and %v (%d)",
			d.name(), ErrDims, d.ObsDim, d.ActDim, obs, obs.Dim(), act, act.Dim())
	}
	disc, ok := act.(envs.Discrete)
	if !ok {
		return nil
	}
	for i, ep := range d.Episodes {
		for t, a := range ep.Actions {
			if !disc.Contains([]float64{float64(a)}) {
				return fmt.Errorf("replay: %s: episode %d (%s) step %d: action %v is not in %v", d.name(), i, ep.EnvID, t, a, disc)
			}
		}
	}
	return nil
}

// CheckEnvs reports the first episode recorded in an environment other than ids,
// for example a CartPole episode in a dataset meant for a gridworld family.
func (d *Dataset) CheckEnvs(ids ...string) error {
	for i, ep := range d.Episodes {
		if !slices.Contains(ids, ep.EnvID) {
			return fmt.Errorf("replay: %s: episode %d was recorded in %s (task %q); want %s", d.name(), i, ep.EnvID, ep.TaskID, strings.Join(ids, " or "))
		}
	}
	return nil
}

// TaskStats summarises the episodes of one task.
type TaskStats struct {
	// Task is the episodes' TaskID, or their EnvID when they have none.
	Task string
	// EnvID is the environment of the task's first episode.
	EnvID string
	// Episodes and Transitions count episodes and steps.
	Episodes, Transitions int
	// ReturnMean, ReturnStd (population), ReturnMin and ReturnMax describe the
	// undiscounted episode returns.
	ReturnMean, ReturnStd, ReturnMin, ReturnMax float64
	// SuccessRate is the fraction of episodes with Success set.
	SuccessRate float64
}

// TaskStats returns one summary per task, sorted by task name, so that a collection
// run or a dataset can be described in a table.
func (d *Dataset) TaskStats() []TaskStats {
	byTask := map[string][]*Episode{}
	for _, ep := range d.Episodes {
		key := ep.TaskID
		if key == "" {
			key = ep.EnvID
		}
		byTask[key] = append(byTask[key], ep)
	}
	out := make([]TaskStats, 0, len(byTask))
	for task, eps := range byTask {
		s := TaskStats{Task: task, EnvID: eps[0].EnvID, Episodes: len(eps), ReturnMin: math.Inf(1), ReturnMax: math.Inf(-1)}
		var sum, successes float64
		for _, ep := range eps {
			r := ep.Return()
			sum += r
			s.Transitions += ep.Len()
			s.ReturnMin = math.Min(s.ReturnMin, r)
			s.ReturnMax = math.Max(s.ReturnMax, r)
			if ep.Success {
				successes++
			}
		}
		s.ReturnMean = sum / float64(len(eps))
		var ss float64
		for _, ep := range eps {
			dv := ep.Return() - s.ReturnMean
			ss += dv * dv
		}
		s.ReturnStd = math.Sqrt(ss / float64(len(eps)))
		s.SuccessRate = successes / float64(len(eps))
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out
}
