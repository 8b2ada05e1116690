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
	// Record keeps every episode (with environment states) in the results, for replay
	// files and rendering.
	Record bool `yaml:"-"`
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

// EvalResult summarises the episodes of one task at one target return.
type EvalResult struct {
	TaskID string  `json:"task_id"`
	EnvID  string  `json:"env_id"`
	Target float64 `json:"target_return"`

	Returns   []float64 `json:"returns"`
	Lengths   []int     `json:"lengths"`
	Successes []bool    `json:"successes"`

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

	// Episodes are the recorded episodes when EvalConfig.Record is set.
	Episodes []*replay.Episode `json:"-"`
}

// Evaluate runs the policy on each task at each target return and summarises the
// episodes, one result per task and target in that order. All episodes of all tasks
// share one pool of NumEnvs environments acted on in one batch, so a slow task does
// not hold up the others. It stops early, with ctx's error, when ctx is cancelled.
func Evaluate(ctx context.Context, model *policy.Model, tasks []envs.Task, cfg EvalConfig, rng *rand.Rand) ([]EvalResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("eval: no tasks")
	}
	if !cfg.Greedy && rng == nil {
		return nil, fmt.Errorf("eval: sampled actions need a random source")
	}
	// One job per episode; results[r] collects task r/len(Targets), target r%len(Targets).
	results := make([]EvalResult, 0, len(tasks)*len(cfg.Targets))
	var jobs []evalJob
	for _, task := range tasks {
		for _, target := range cfg.Targets {
			r := len(results)
			results = append(results, EvalResult{TaskID: task.ID, EnvID: task.EnvID, Target: target,
				Returns: make([]float64, cfg.Episodes), Lengths: make([]int, cfg.Episodes), Successes: make([]bool, cfg.Episodes)})
			if cfg.Record {
				results[r].Episodes = make([]*replay.Episode, cfg.Episodes)
			}
			for j := 0; j < cfg.Episodes; j++ {
				jobs = append(jobs, evalJob{task: task, result: r, episode: j})
			}
		}
	}
	if err := runEvalJobs(ctx, model, jobs, results, cfg, rng); err != nil {
		return nil, err
	}
	for i := range results {
		thresholdSuccess(&results[i])
		summarize(&results[i])
		if ref, ok := cfg.References[results[i].TaskID]; ok {
			results[i].Normalized = ref.Normalize(results[i].Mean)
		}
	}
	return results, nil
}

// thresholdSuccess marks the episodes whose return reached the registered reward
// threshold of res.EnvID as successful, so evaluation success rates agree with those
// of datasets and recordings (replay.Recorder) for environments that never report
// Info.Success.
func thresholdSuccess(res *EvalResult) {
	spec, ok := envs.Lookup(res.EnvID)
	if !ok || math.IsNaN(spec.RewardThreshold) {
		return
	}
	for j, ret := range res.Returns {
		if ret >= spec.RewardThreshold {
			res.Successes[j] = true
		}
	}
}

// evalJob is one episode to run: episode j of a task at the target of results[result].
type evalJob struct {
	task    envs.Task
	result  int
	episode int
}

// evalSlot is one environment of the pool and the job it is running.
type evalSlot struct {
	job     int // index into jobs, −1 when idle
	env     envs.Env
	envTask string // the task env was made for, reused while jobs stay on it
	rec     *replay.Recorder
	ret     float64
	steps   int
	success bool
}

func runEvalJobs(ctx context.Context, model *policy.Model, jobs []evalJob, results []EvalResult, cfg EvalConfig, rng *rand.Rand) error {
	n := min(cfg.NumEnvs, len(jobs))
	actor, err := policy.NewActor(model, n)
	if err != nil {
		return err
	}
	slots := make([]*evalSlot, n)
	next := 0
	start := func(i int) error {
		s := slots[i]
		if next >= len(jobs) {
			s.job = -1
			return nil
		}
		s.job, s.ret, s.steps, s.success = next, 0, 0, false
		job := jobs[next]
		next++
		if s.envTask != job.task.ID || s.env == nil {
			env, err := job.task.Make()
			if err != nil {
				return fmt.Errorf("eval %s: %w", job.task.ID, err)
			}
			if err := CheckCompatible(model.Config(), env, job.task.EnvID); err != nil {
				return fmt.Errorf("eval %s: %w", job.task.ID, err)
			}
			s.env, s.envTask, s.rec = env, job.task.ID, nil
			if cfg.Record {
				s.rec = replay.NewRecorder(env, job.task)
				s.rec.Source = "eval"
			}
		}
		seed := cfg.Seed + int64(job.episode)
		obs, _, err := s.env.Reset(seed)
		if err != nil {
			return fmt.Errorf("eval %s: reset: %w", job.task.ID, err)
		}
		if s.rec != nil {
			if err := s.rec.Begin(seed, obs); err != nil {
				return err
			}
		}
		return actor.Begin(i, obs, results[job.result].Target)
	}
	for i := range slots {
		slots[i] = &evalSlot{}
		if err := start(i); err != nil {
			return err
		}
	}
	width := model.Config().Action.Width()
	actions := make([]float64, n*width)
	for done := 0; done < len(jobs); {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := actor.Act(cfg.Greedy, rng, actions); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		for i, s := range slots {
			if s.job < 0 {
				continue
			}
			job := jobs[s.job]
			a := actions[i*width : (i+1)*width]
			tr, err := s.env.Step(a)
			if err != nil {
				return fmt.Errorf("eval %s: episode %d step %d: %w", job.task.ID, job.episode, s.steps, err)
			}
			s.ret += tr.Reward
			s.steps++
			s.success = s.success || tr.Info.Success
			if s.rec != nil {
				if err := s.rec.Step(a, tr); err != nil {
					return err
				}
			}
			if !tr.Done() {
				actor.Observe(i, tr.Reward, tr.Obs)
				continue
			}
			res := &results[job.result]
			res.Returns[job.episode], res.Lengths[job.episode], res.Successes[job.episode] = s.ret, s.steps, s.success
			if s.rec != nil {
				res.Episodes[job.episode] = s.rec.End()
			}
			done++
			if err := start(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// summarize fills the statistics of res from its per-episode values.
func summarize(res *EvalResult) {
	n := float64(len(res.Returns))
	var sum, successes, length float64
	for i, r := range res.Returns {
		sum += r
		length += float64(res.Lengths[i])
		if res.Successes[i] {
			successes++
		}
	}
	res.Mean = sum / n
	res.SuccessRate = successes / n
	res.MeanLength = length / n
	res.Normalized = math.NaN()
	if len(res.Returns) < 2 {
		return
	}
	var ss float64
	for _, r := range res.Returns {
		ss += (r - res.Mean) * (r - res.Mean)
	}
	res.Std = math.Sqrt(ss / (n - 1))
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
		s.Episodes += len(r.Returns)
	}
	n := float64(len(results))
	s.MeanReturn /= n
	s.MeanNormalized /= n
	s.SuccessRate /= n
	return s
}
