package agents

import (
	"context"
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/replay"
)

// Actor chooses actions in n environments at once: a Decision Transformer
// (policy.Actor), the scripted experts (expert.Actor), or a user's own policy. It is
// to acting what io.Reader is to reading: Rollout drives any Actor through
// episodes, so evaluation, EVA's rollouts, ODT's exploration, data collection, demo
// and watch share one episode loop.
//
// The calls for environment slot i, in order: Begin when an episode starts there;
// then, for every step, Act (for all slots at once) followed by Observe unless the
// step ended the episode; End when the episode ended and no new one begins in slot
// i yet (a new one begins with Begin). Act writes Len()×width actions; the values of
// slots that have no episode running are ignored, and an actor may skip computing
// them. Observations passed in belong to the environment: copy what you keep.
type Actor interface {
	// Len is the number of environment slots.
	Len() int
	// Begin starts an episode in slot i at its first observation. target is the
	// return the episode aims for (a Decision Transformer's initial return-to-go;
	// actors that are not return-conditioned ignore it).
	Begin(i int, obs []float64, target float64) error
	// Act writes the next action of every slot into actions (Len() × action width).
	Act(actions []float64) error
	// Observe records the reward of slot i's last step and the observation it led to.
	Observe(i int, reward float64, obs []float64)
	// End marks slot i idle: its episode ended and no new one has begun.
	End(i int)
}

// EpisodeBinder is an optional ability of actors that need the environment itself,
// not only its observations — scripted experts read the environment's physics or
// map — or the episode's reset seed, to seed per-episode noise independently of the
// slot the episode runs in. Rollout calls BindEpisode just before each Begin.
type EpisodeBinder interface {
	BindEpisode(i int, task envs.Task, env envs.Env, seed int64) error
}

// Quota asks a rollout for Episodes episodes of Task, episode j resetting with seed
// Seed+j and conditioned on Target. Results depend on the seeds, not on how many
// environments ran them or in which order they finished: every episode requested is
// completed, so short episodes are not over-represented (the bias that
// Stable-Baselines3's evaluate_policy avoids with per-environment quotas).
type Quota struct {
	Task     envs.Task
	Target   float64
	Episodes int
	Seed     int64
}

// RolloutConfig says how episodes are run and what is kept of them.
type RolloutConfig struct {
	// Record keeps every episode's observations, actions and rewards
	// (Episode.Recording); RecordStates also keeps the environment's full state per
	// step (envs.Stateful), which renderers need.
	Record, RecordStates bool
	// Source labels recorded episodes (replay.Episode.Source), e.g. "eval".
	Source string
	// OnStep, when set, is called after every environment step, on the caller's
	// goroutine; watch draws frames from it.
	OnStep func(StepInfo) error
}

// StepInfo describes one environment step for RolloutConfig.OnStep. Env, Action and
// the transition's Obs are owned by the rollout and valid only during the call.
type StepInfo struct {
	Slot, Quota, Index int // the environment slot, and the episode's quota and index in it
	Env                envs.Env
	Step               int // steps taken in the episode, this one included
	Action             []float64
	Transition         envs.Transition
	Return             float64 // the episode's return so far
}

// Episode is one finished episode of a rollout.
type Episode struct {
	// Quota and Index identify the episode: index Index of quotas[Quota].
	Quota, Index int
	// Seed is the reset seed, Quota.Seed + Index.
	Seed   int64
	Return float64
	Length int
	// Success: the environment reported Info.Success on some step, or (environments
	// without that notion, such as CartPole) the return reached the registered
	// reward threshold, as replay.Recorder counts it.
	Success               bool
	Terminated, Truncated bool
	// Recording is the whole episode when RolloutConfig.Record is set.
	Recording *replay.Episode
}

// rolloutSlot is one environment slot and the episode it runs.
type rolloutSlot struct {
	env     envs.Env
	task    string // the task env was made for; reused while jobs stay on it
	rec     *replay.Recorder
	running bool
	quota   int
	index   int
	seed    int64
	ret     float64
	steps   int
	success bool
}

// Rollout runs actor through every episode the quotas ask for, on actor.Len()
// environment slots, and hands each finished episode to sink in the order episodes
// finish. Slot i takes the next unstarted episode whenever it is free, so all slots
// stay busy until the last episodes; the environments are made from the tasks
// (envs.Task.Make) and reused while a slot stays on one task. Nothing is kept of an
// episode once sink returns, so episode counts cost no memory.
//
// Determinism: for a given actor, Len() and quotas, the episodes and every call the
// actor receives are the same on every run. Rollout stops with ctx's error when ctx
// is cancelled, and with sink's error when sink fails.
func Rollout(ctx context.Context, actor Actor, quotas []Quota, cfg RolloutConfig, sink func(Episode) error) error {
	n := actor.Len()
	if n <= 0 {
		return fmt.Errorf("rollout: actor with %d slots", n)
	}
	total := 0
	for i, q := range quotas {
		switch {
		case q.Episodes < 0:
			return fmt.Errorf("rollout: quota %d (%s): episodes = %d, want ≥ 0", i, q.Task.ID, q.Episodes)
		case q.Seed < 0 || q.Seed > math.MaxInt64-int64(q.Episodes):
			return fmt.Errorf("rollout: quota %d (%s): seed %d, want 0 ≤ seed and seed + episodes ≤ %d", i, q.Task.ID, q.Seed, int64(math.MaxInt64))
		case math.IsNaN(q.Target) || math.IsInf(q.Target, 0):
			return fmt.Errorf("rollout: quota %d (%s): target %v, want a finite return", i, q.Task.ID, q.Target)
		}
		total += q.Episodes
		if total < 0 {
			return fmt.Errorf("rollout: more episodes than an int counts")
		}
	}
	binder, _ := actor.(EpisodeBinder)
	slots := make([]rolloutSlot, n)
	width := -1
	nextQuota, nextIndex := 0, 0
	// start gives slot i the next unstarted episode, or marks it idle.
	start := func(i int) error {
		s := &slots[i]
		for nextQuota < len(quotas) && nextIndex >= quotas[nextQuota].Episodes {
			nextQuota, nextIndex = nextQuota+1, 0
		}
		if nextQuota >= len(quotas) {
			if s.running {
				actor.End(i)
			}
			s.running = false
			return nil
		}
		q := &quotas[nextQuota]
		s.quota, s.index, s.seed = nextQuota, nextIndex, q.Seed+int64(nextIndex)
		nextIndex++
		if s.env == nil || s.task != q.Task.ID {
			env, err := q.Task.Make()
			if err != nil {
				return fmt.Errorf("rollout %s: %w", q.Task.ID, err)
			}
			w := env.ActionSpace().Dim()
			if width >= 0 && w != width {
				return fmt.Errorf("rollout %s: actions of %d values, other tasks of this rollout take %d", q.Task.ID, w, width)
			}
			width = w
			s.env, s.task, s.rec = env, q.Task.ID, nil
			if cfg.Record {
				s.rec = replay.NewRecorder(env, q.Task)
				s.rec.Source = cfg.Source
				s.rec.RecordStates = cfg.RecordStates && s.rec.RecordStates
			}
		}
		obs, _, err := s.env.Reset(s.seed)
		if err != nil {
			return fmt.Errorf("rollout %s: reset with seed %d: %w", q.Task.ID, s.seed, err)
		}
		s.running, s.ret, s.steps, s.success = true, 0, 0, false
		if s.rec != nil {
			if err := s.rec.Begin(s.seed, obs); err != nil {
				return err
			}
		}
		if binder != nil {
			if err := binder.BindEpisode(i, q.Task, s.env, s.seed); err != nil {
				return fmt.Errorf("rollout %s: %w", q.Task.ID, err)
			}
		}
		if err := actor.Begin(i, obs, q.Target); err != nil {
			return fmt.Errorf("rollout %s: %w", q.Task.ID, err)
		}
		return nil
	}
	for i := range slots {
		if err := start(i); err != nil {
			return err
		}
	}
	if width < 0 {
		return nil // nothing to run
	}
	actions := make([]float64, n*width)
	for done := 0; done < total; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := actor.Act(actions); err != nil {
			return fmt.Errorf("rollout: %w", err)
		}
		for i := range slots {
			s := &slots[i]
			if !s.running {
				continue
			}
			task := quotas[s.quota].Task
			a := actions[i*width : (i+1)*width]
			tr, err := s.env.Step(a)
			if err != nil {
				return fmt.Errorf("rollout %s: episode %d (seed %d) step %d: %w", task.ID, s.index, s.seed, s.steps, err)
			}
			s.ret += tr.Reward
			s.steps++
			s.success = s.success || tr.Info.Success
			if s.rec != nil {
				if err := s.rec.Step(a, tr); err != nil {
					return err
				}
			}
			if cfg.OnStep != nil {
				info := StepInfo{Slot: i, Quota: s.quota, Index: s.index, Env: s.env, Step: s.steps, Action: a, Transition: tr, Return: s.ret}
				if err := cfg.OnStep(info); err != nil {
					return err
				}
			}
			if !tr.Done() {
				actor.Observe(i, tr.Reward, tr.Obs)
				continue
			}
			ep := Episode{Quota: s.quota, Index: s.index, Seed: s.seed, Return: s.ret, Length: s.steps,
				Success: s.success || reachedThreshold(task.EnvID, s.ret), Terminated: tr.Terminated, Truncated: tr.Truncated}
			if s.rec != nil {
				ep.Recording = s.rec.End()
			}
			done++
			if err := sink(ep); err != nil {
				return err
			}
			if err := start(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// reachedThreshold reports whether ret reaches the registered reward threshold of
// envID (environments without a notion of success, e.g. CartPole-v1's 475).
func reachedThreshold(envID string, ret float64) bool {
	spec, ok := envs.Lookup(envID)
	return ok && !math.IsNaN(spec.RewardThreshold) && ret >= spec.RewardThreshold
}
