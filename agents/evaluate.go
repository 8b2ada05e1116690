package agents

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// EvalConfig says how a policy is evaluated.
type EvalConfig struct {
	// Episodes is the number of episodes per task and target return.
	Episodes int `yaml:"episodes"`
	// Targets are the target returns the policy is conditioned on (raw, in the
	// environment's reward units); one result per task and target.
	Targets []float64 `yaml:"targets"`
	// NumEnvs is the number of environments acted on in one batch.
	NumEnvs int `yaml:"num_envs"`
	// Seed is the seed of episode 0; episode j resets with Seed+j, so results do not
	// depend on NumEnvs.
	Seed int64 `yaml:"seed"`
	// Greedy takes the policy's most likely action; otherwise actions are sampled.
	Greedy bool `yaml:"greedy"`
	// Record keeps every episode with its environment states, for replay files and
	// rendering: handed to OnRecording as it finishes when that is set (so any number
	// of episodes can be written out), else kept in EvalResult.Episodes.
	Record bool `yaml:"-"`
	// OnRecording receives each recorded episode of result r (an index into the
	// results Evaluate returns) as soon as it finishes.
	OnRecording func(r int, index int, ep *replay.Episode) error `yaml:"-"`
	// Progress, when set, is told after each episode how many of the evaluation's
	// episodes have finished, of how many, and the task of the one that just did.
	Progress func(done, total int, task string) `yaml:"-"`
	// References, by task id, give normalised scores (see ComputeReferences); tasks
	// without one get NaN.
	References map[string]Reference `yaml:"-"`
}

// DefaultEvalConfig evaluates 20 greedy episodes per task on 10 environments.
func DefaultEvalConfig() EvalConfig {
	return EvalConfig{Episodes: 20, NumEnvs: 10, Greedy: true}
}

// Validate names the first bad field.
func (c EvalConfig) Validate() error {
	switch {
	case c.Episodes <= 0:
		return fmt.Errorf("eval: episodes = %d, want > 0", c.Episodes)
	case c.NumEnvs <= 0:
		return fmt.Errorf("eval: num_envs = %d, want > 0", c.NumEnvs)
	case len(c.Targets) == 0:
		return fmt.Errorf("eval: targets is empty, want at least one target return")
	case c.Seed < 0:
		return fmt.Errorf("eval: seed = %d, want ≥ 0", c.Seed)
	}
	for i, t := range c.Targets {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("eval: targets[%d] = %v, want a finite number", i, t)
		}
	}
	return nil
}

// MaxKeptEpisodes is the most episodes per task and target whose individual returns,
// lengths and successes an EvalResult keeps; beyond it only the running statistics
// are kept, so an evaluation of any length runs in constant memory.
const MaxKeptEpisodes = 1 << 20

// EvalResult summarises the episodes of one task at one target return.
type EvalResult struct {
	TaskID string  `json:"task_id"`
	EnvID  string  `json:"env_id"`
	Target float64 `json:"target_return"`

	// Returns, Lengths and Successes hold every episode in index order (episode j
	// reset with seed Seed+j), for up to MaxKeptEpisodes episodes; nil beyond.
	Returns   []float64 `json:"returns,omitempty"`
	Lengths   []int     `json:"lengths,omitempty"`
	Successes []bool    `json:"successes,omitempty"`

	// Count is the number of episodes run.
	Count int `json:"episodes"`
	// Mean and Std (sample, n−1) of the returns, and the half-width of the 95 %
	// Student-t confidence interval of the mean.
	Mean float64 `json:"mean_return"`
	Std  float64 `json:"std_return"`
	CI95 float64 `json:"ci95_return"`
	// SuccessRate is the share of successful episodes: the environment reported
	// success, or (environments without that notion, e.g. CartPole) the return reached
	// the registered reward threshold, as replay.Recorder and `rl-train demo` count it.
	SuccessRate float64 `json:"success_rate"`
	// MeanLength is the mean episode length in steps.
	MeanLength float64 `json:"mean_length"`
	// Normalized is 100·(Mean − random)/(expert − random) when reference returns are
	// known (see Reference), NaN otherwise.
	Normalized float64 `json:"normalized_score"`

	// Episodes are the recorded episodes when EvalConfig.Record is set and
	// OnRecording is not.
	Episodes []*replay.Episode `json:"-"`

	// Running statistics (Welford), used when the episodes are not kept.
	n, successes   int
	mean, m2, lsum float64
}

// add accounts for one finished episode.
func (r *EvalResult) add(ep Episode) {
	r.Count++
	if r.Returns != nil {
		r.Returns[ep.Index], r.Lengths[ep.Index], r.Successes[ep.Index] = ep.Return, ep.Length, ep.Success
	}
	r.n++
	d := ep.Return - r.mean
	r.mean += d / float64(r.n)
	r.m2 += d * (ep.Return - r.mean)
	r.lsum += float64(ep.Length)
	if ep.Success {
		r.successes++
	}
}

// Evaluate runs the policy on each task at each target return and summarises the
// episodes, one result per task and target in that order. All episodes of all tasks
// share one pool of NumEnvs environments acted on in one batch (Rollout), so a slow
// task does not hold up the others. Sampled actions (Greedy false) draw from rng.
// It stops early, with ctx's error, when ctx is cancelled.
func Evaluate(ctx context.Context, model *policy.Model, tasks []envs.Task, cfg EvalConfig, rng *rand.Rand) ([]EvalResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Greedy && rng == nil {
		return nil, fmt.Errorf("eval: sampled actions need a random source")
	}
	if err := CheckTasks(model.Config(), tasks); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	n := min(cfg.NumEnvs, len(tasks)*len(cfg.Targets)*cfg.Episodes)
	actor, err := policy.NewActor(model, max(n, 1), cfg.Greedy, rng)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return EvaluateActor(ctx, actor, tasks, cfg)
}

// EvaluateActor is Evaluate for any Actor (a scripted expert, a user's policy): it
// runs cfg.Episodes episodes per task and target on the actor's slots. cfg.NumEnvs
// is ignored (the actor has its slots) and cfg.Greedy is the actor's business.
func EvaluateActor(ctx context.Context, actor Actor, tasks []envs.Task, cfg EvalConfig) ([]EvalResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("eval: no tasks")
	}
	results := make([]EvalResult, 0, len(tasks)*len(cfg.Targets))
	quotas := make([]Quota, 0, cap(results))
	for _, task := range tasks {
		for _, target := range cfg.Targets {
			r := EvalResult{TaskID: task.ID, EnvID: task.EnvID, Target: target}
			if cfg.Episodes <= MaxKeptEpisodes {
				r.Returns, r.Lengths, r.Successes = make([]float64, cfg.Episodes), make([]int, cfg.Episodes), make([]bool, cfg.Episodes)
			}
			if cfg.Record && cfg.OnRecording == nil {
				r.Episodes = make([]*replay.Episode, cfg.Episodes)
			}
			results = append(results, r)
			quotas = append(quotas, Quota{Task: task, Target: target, Episodes: cfg.Episodes, Seed: cfg.Seed})
		}
	}
	rc := RolloutConfig{Record: cfg.Record, RecordStates: cfg.Record, Source: "eval"}
	done, total := 0, len(quotas)*cfg.Episodes
	err := Rollout(ctx, actor, quotas, rc, func(ep Episode) error {
		res := &results[ep.Quota]
		res.add(ep)
		done++
		if cfg.Progress != nil {
			cfg.Progress(done, total, res.TaskID)
		}
		switch {
		case ep.Recording == nil:
		case cfg.OnRecording != nil:
			return cfg.OnRecording(ep.Quota, ep.Index, ep.Recording)
		default:
			res.Episodes[ep.Index] = ep.Recording
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range results {
		summarize(&results[i])
		if ref, ok := cfg.References[results[i].TaskID]; ok {
			results[i].Normalized = ref.Normalize(results[i].Mean)
		}
	}
	return results, nil
}

// CheckTasks makes each task's environment once and checks that a policy of cfg can
// act in it (CheckCompatible), before any episode runs.
func CheckTasks(cfg policy.Config, tasks []envs.Task) error {
	for _, t := range tasks {
		env, err := t.Make()
		if err != nil {
			return fmt.Errorf("task %s: %w", t.ID, err)
		}
		if err := CheckCompatible(cfg, env, t.EnvID); err != nil {
			return fmt.Errorf("task %s: %w", t.ID, err)
		}
	}
	return nil
}

// summarize fills the statistics of res: from its per-episode values in index
// order when they are kept (so they do not depend on the order episodes finished),
// else from the running statistics.
func summarize(res *EvalResult) {
	if res.Returns != nil {
		res.n, res.successes = len(res.Returns), 0
		for _, ok := range res.Successes {
			if ok {
				res.successes++
			}
		}
	}
	n := float64(res.n)
	res.Normalized = math.NaN()
	if res.n == 0 {
		res.Mean, res.SuccessRate, res.MeanLength = math.NaN(), math.NaN(), math.NaN()
		return
	}
	res.SuccessRate = float64(res.successes) / n
	res.MeanLength = res.lsum / n
	res.Mean, res.Std = res.mean, 0
	if res.n >= 2 {
		res.Std = math.Sqrt(res.m2 / (n - 1))
	}
	if res.Returns != nil {
		var sum, length float64
		for i, r := range res.Returns {
			sum += r
			length += float64(res.Lengths[i])
		}
		res.Mean, res.MeanLength = sum/n, length/n
		var ss float64
		for _, r := range res.Returns {
			ss += (r - res.Mean) * (r - res.Mean)
		}
		if res.n >= 2 {
			res.Std = math.Sqrt(ss / (n - 1))
		}
	}
	if res.n < 2 {
		return
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(0.975)
	res.CI95 = t * res.Std / math.Sqrt(n)
}

// Summary averages results over tasks: what one number per evaluation (the score of
// a checkpoint) is made of.
type Summary struct {
	MeanReturn     float64 `json:"mean_return"`
	MeanNormalized float64 `json:"mean_normalized_score"` // NaN when any task lacks a reference
	SuccessRate    float64 `json:"success_rate"`
	Episodes       int     `json:"episodes"`
}

// Summarize averages the per-task means, normalised scores and success rates.
func Summarize(results []EvalResult) Summary {
	var s Summary
	if len(results) == 0 {
		s.MeanNormalized = math.NaN()
		return s
	}
	for _, r := range results {
		s.MeanReturn += r.Mean
		s.MeanNormalized += r.Normalized
		s.SuccessRate += r.SuccessRate
		s.Episodes += r.Count
	}
	n := float64(len(results))
	s.MeanReturn /= n
	s.MeanNormalized /= n
	s.SuccessRate /= n
	return s
}
