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
	// SuccessRate is the share of episodes in which the environment reported success.
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
// episodes. It stops early, with ctx's error, when ctx is cancelled.
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
	var out []EvalResult
	for _, task := range tasks {
		for _, target := range cfg.Targets {
			res, err := evaluateTask(ctx, model, task, target, cfg, rng)
			if err != nil {
				return out, err
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// evalSlot is one environment of an evaluation and the episode it is running.
type evalSlot struct {
	env     envs.Env
	rec     *replay.Recorder
	episode int // index of the running episode, −1 when the slot is idle
	ret     float64
	steps   int
	success bool
}

func evaluateTask(ctx context.Context, model *policy.Model, task envs.Task, target float64, cfg EvalConfig, rng *rand.Rand) (EvalResult, error) {
	n := min(cfg.NumEnvs, cfg.Episodes)
	res := EvalResult{TaskID: task.ID, EnvID: task.EnvID, Target: target,
		Returns: make([]float64, cfg.Episodes), Lengths: make([]int, cfg.Episodes), Successes: make([]bool, cfg.Episodes)}
	if cfg.Record {
		res.Episodes = make([]*replay.Episode, cfg.Episodes)
	}
	actor, err := NewActor(model, n)
	if err != nil {
		return res, err
	}
	slots := make([]*evalSlot, n)
	next := 0 // the next episode to start
	start := func(i int) error {
		s := slots[i]
		if next >= cfg.Episodes {
			s.episode = -1
			return nil
		}
		s.episode, s.ret, s.steps, s.success = next, 0, 0, false
		seed := cfg.Seed + int64(next)
		next++
		obs, _, err := s.env.Reset(seed)
		if err != nil {
			return fmt.Errorf("eval %s: reset: %w", task.ID, err)
		}
		if s.rec != nil {
			if err := s.rec.Begin(seed, obs); err != nil {
				return err
			}
		}
		return actor.Begin(i, obs, target)
	}
	for i := range slots {
		env, err := task.Make()
		if err != nil {
			return res, fmt.Errorf("eval %s: %w", task.ID, err)
		}
		if env.ObservationSpace().Dim() != model.Config().StateDim || env.ActionSpace().Dim() != model.Config().Action.Width() {
			return res, fmt.Errorf("eval %s: environment %s has observation size %d and action size %d, the policy expects %d and %d",
				task.ID, task.EnvID, env.ObservationSpace().Dim(), env.ActionSpace().Dim(), model.Config().StateDim, model.Config().Action.Width())
		}
		slots[i] = &evalSlot{env: env}
		if cfg.Record {
			slots[i].rec = replay.NewRecorder(env, task)
			slots[i].rec.Source = "eval"
		}
		if err := start(i); err != nil {
			return res, err
		}
	}
	width := model.Config().Action.Width()
	actions := make([]float64, n*width)
	for done := 0; done < cfg.Episodes; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := actor.Act(cfg.Greedy, rng, actions); err != nil {
			return res, fmt.Errorf("eval %s: %w", task.ID, err)
		}
		for i, s := range slots {
			if s.episode < 0 {
				continue
			}
			a := actions[i*width : (i+1)*width]
			tr, err := s.env.Step(a)
			if err != nil {
				return res, fmt.Errorf("eval %s: episode %d step %d: %w", task.ID, s.episode, s.steps, err)
			}
			s.ret += tr.Reward
			s.steps++
			s.success = s.success || tr.Info.Success
			if s.rec != nil {
				if err := s.rec.Step(a, tr); err != nil {
					return res, err
				}
			}
			if !tr.Done() {
				actor.Observe(i, tr.Reward, tr.Obs)
				continue
			}
			j := s.episode
			res.Returns[j], res.Lengths[j], res.Successes[j] = s.ret, s.steps, s.success
			if s.rec != nil {
				res.Episodes[j] = s.rec.End()
			}
			done++
			if err := start(i); err != nil {
				return res, err
			}
		}
	}
	summarize(&res)
	return res, nil
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
