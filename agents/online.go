package agents

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/internal/limits"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// OnlineConfig holds the settings of online fine-tuning with the Online Decision
// Transformer (Zheng, Zhang & Grover 2022, "Online Decision Transformer", ICML).
// Defaults (DefaultOnlineConfig) are ODT's (its code's defaults, main.py of
// facebookresearch/online-dt, set for hopper-medium) where they fit a run of minutes
// on two cores; the comment of each field gives the default and, where it differs,
// ODT's value and why.
//
// The protocol: first OfflineUpdates updates on the replay buffer as the target
// task's offline data seeded it (no exploration: ODT's offline pretraining phase on
// the same task), then Iterations iterations of EpisodesPerIteration exploration
// episodes followed by UpdatesPerIteration updates.
type OnlineConfig struct {
	// OfflineUpdates is the number of updates of the offline phase, on the buffer
	// seeded with the offline data, before the first exploration episode. Default
	// 2000, the offline mode's default budget (finetune.DefaultConfig), so that the
	// default online run is the default offline run followed by the online
	// iterations (ODT: 5000; its hopper run pretrains for 5000 updates).
	OfflineUpdates int `yaml:"offline_updates"`
	// Iterations is the number of online iterations; each collects exploration
	// episodes into the replay buffer, then takes UpdatesPerIteration updates.
	// Default 20, 6000 online updates (ODT: up to 1500 iterations).
	Iterations int `yaml:"iterations"`
	// EpisodesPerIteration is the number of exploration episodes per iteration.
	// Default 1 (ODT).
	EpisodesPerIteration int `yaml:"episodes_per_iteration"`
	// NumEnvs is the number of environments acted on in one batch while exploring
	// (at most EpisodesPerIteration are used). Default 4.
	NumEnvs int `yaml:"num_envs"`
	// UpdatesPerIteration is the number of gradient updates after each iteration's
	// rollouts. Default 300 (ODT).
	UpdatesPerIteration int `yaml:"updates_per_iteration"`
	// BatchSize is the number of context windows per update. Default 64 (ODT: 256).
	BatchSize int `yaml:"batch_size"`
	// Optimizer configures the policy's optimizer. Default LAMB (nn.LAMB, ODT's
	// optimizer) with β 0.9/0.999, ε 1e-8 and weight decay 5e-4 on every parameter
	// (ODT); kind adamw selects AdamW with the same fields.
	Optimizer nn.OptimizerConfig `yaml:"optimizer"`
	// Schedule gives the policy's learning rate per update, counted over the whole
	// run (OfflineUpdates + Iterations × UpdatesPerIteration). Default lr 1e-4 (ODT),
	// constant after a linear warm-up over the first tenth of the updates (ODT warms
	// up over 10 000 updates, past its 5000 offline ones; a tenth keeps the warm-up
	// inside the offline phase of the shorter default run).
	Schedule nn.ScheduleConfig `yaml:"schedule"`
	// ClipNorm is the maximum global gradient norm (0 disables clipping). Default 0.25
	// (ODT).
	ClipNorm float64 `yaml:"clip_norm"`
	// BufferSize is the replay buffer's capacity in trajectories. Default 1000 (ODT).
	BufferSize int `yaml:"buffer_size"`
	// EvalTarget is the target return evaluation conditions on, in reward units;
	// exploration conditions on ExploreScale × EvalTarget. Default 1.
	EvalTarget float64 `yaml:"eval_target"`
	// ExploreScale multiplies EvalTarget to give the exploration return-to-go; 0 means
	// use ExploreReturn instead. Only meaningful for positive targets (for returns
	// that are negative, as Pendulum's, give ExploreReturn). Default 2 (ODT).
	ExploreScale float64 `yaml:"explore_scale"`
	// ExploreReturn is the exploration return-to-go in reward units, used when
	// ExploreScale is 0. Default 0 (unused).
	ExploreReturn float64 `yaml:"explore_return"`
	// InitTemperature is the initial entropy weight λ. Default 0.1 (ODT).
	InitTemperature float64 `yaml:"init_temperature"`
	// TemperatureLR is the Adam learning rate of log λ (constant). Default 1e-4 (ODT).
	TemperatureLR float64 `yaml:"temperature_lr"`
	// DiscreteEntropyShare sets the target entropy for discrete actions to this share
	// of the maximum entropy log N (continuous actions use ODT's −|A|; ODT has no
	// discrete-action experiments). Default 0.5, between no floor and
	// SAC-discrete's 0.98, both of which measured worse; see the package
	// documentation.
	DiscreteEntropyShare float64 `yaml:"discrete_entropy_share"`
}

// DefaultOnlineConfig returns ODT's settings sized for a short run on two cores.
func DefaultOnlineConfig() OnlineConfig {
	c := OnlineConfig{
		OfflineUpdates: 2000, Iterations: 20, EpisodesPerIteration: 1, NumEnvs: 1, UpdatesPerIteration: 300,
		BatchSize: 64, Optimizer: nn.OptimizerConfig{Kind: nn.OptimizerLAMB, AdamWConfig: nn.DefaultAdamWConfig()},
		ClipNorm: 0.25, BufferSize: 1000, EvalTarget: 1, ExploreScale: 2, InitTemperature: 0.1, TemperatureLR: 1e-4,
		DiscreteEntropyShare: 0.5,
	}
	c.Optimizer.WeightDecay = 5e-4
	c.Schedule = nn.ScheduleConfig{Kind: nn.ScheduleConstant, LR: 1e-4, WarmupSteps: c.TotalUpdates() / 10}
	return c
}

// TotalUpdates is the number of gradient updates of the whole run: the offline
// phase's and the iterations'.
func (c OnlineConfig) TotalUpdates() int {
	return c.OfflineUpdates + c.Iterations*c.UpdatesPerIteration
}

// ExploreTarget is the return-to-go exploration rollouts are conditioned on.
func (c OnlineConfig) ExploreTarget() float64 {
	if c.ExploreScale == 0 {
		return c.ExploreReturn
	}
	return c.ExploreScale * c.EvalTarget
}

// Validate names the first bad field.
func (c OnlineConfig) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.OfflineUpdates < 0:
		return fmt.Errorf("online: offline_updates = %d, want ≥ 0", c.OfflineUpdates)
	case c.Iterations <= 0:
		return fmt.Errorf("online: iterations = %d, want > 0", c.Iterations)
	case c.EpisodesPerIteration <= 0:
		return fmt.Errorf("online: episodes_per_iteration = %d, want > 0", c.EpisodesPerIteration)
	case c.NumEnvs <= 0:
		return fmt.Errorf("online: num_envs = %d, want > 0", c.NumEnvs)
	case c.UpdatesPerIteration <= 0:
		return fmt.Errorf("online: updates_per_iteration = %d, want > 0", c.UpdatesPerIteration)
	case c.BufferSize <= 0:
		return fmt.Errorf("online: buffer_size = %d, want > 0 trajectories", c.BufferSize)
	case !finite(c.EvalTarget):
		return fmt.Errorf("online: eval_target = %v, want a finite number", c.EvalTarget)
	case !(c.ExploreScale >= 0) || !finite(c.ExploreScale):
		return fmt.Errorf("online: explore_scale = %v, want a finite number ≥ 0 (0: use explore_return)", c.ExploreScale)
	case c.ExploreScale > 0 && !(c.EvalTarget > 0):
		return fmt.Errorf("online: explore_scale = %v multiplies eval_target = %v: want eval_target > 0, or explore_scale: 0 with an absolute explore_return", c.ExploreScale, c.EvalTarget)
	case !finite(c.ExploreReturn):
		return fmt.Errorf("online: explore_return = %v, want a finite number", c.ExploreReturn)
	case !(c.InitTemperature > 0) || !finite(c.InitTemperature):
		return fmt.Errorf("online: init_temperature = %v, want a finite number > 0", c.InitTemperature)
	case !(c.TemperatureLR > 0) || !finite(c.TemperatureLR):
		return fmt.Errorf("online: temperature_lr = %v, want a finite number > 0", c.TemperatureLR)
	case !(c.DiscreteEntropyShare >= 0 && c.DiscreteEntropyShare < 1):
		return fmt.Errorf("online: discrete_entropy_share = %v, want 0 ≤ share < 1 (of the maximum entropy log N)", c.DiscreteEntropyShare)
	}
	tc := TrainConfig{Steps: c.TotalUpdates(), BatchSize: c.BatchSize, Optimizer: c.Optimizer, Schedule: c.Schedule, ClipNorm: c.ClipNorm}
	if err := tc.Validate(); err != nil {
		return fmt.Errorf("online: %w", err)
	}
	return nil
}

// OnlineStats is what one call of Online.Iterate reports.
type OnlineStats struct {
	// Iteration is the index of the iteration worked on (from 0), −1 for the
	// offline phase.
	Iteration int
	// Done reports that the iteration finished (false when ctx stopped it early).
	Done bool
	// ExploreReturns, ExploreLengths and ExploreSuccesses describe the exploration
	// episodes collected by this call (none when a resumed iteration had them already).
	ExploreReturns   []float64
	ExploreLengths   []int
	ExploreSuccesses []bool
	// Updates is the number of updates this call took; the means below are over them.
	Updates int
	// Loss, NLL and Entropy are the policy's loss terms (policy.Loss), means.
	Loss, NLL, Entropy float64
	// GradNorm is the mean global gradient norm before clipping (0 without clipping).
	GradNorm float64
	// LR is the learning rate of the last update.
	LR float64
	// Temperature is λ after the last update; TargetEntropy what it is tuned to.
	Temperature, TargetEntropy float64
	// BufferEpisodes and BufferTransitions describe the replay buffer afterwards.
	BufferEpisodes, BufferTransitions int
	// TotalUpdates counts updates since the start of the run (across resumes).
	TotalUpdates int
}

// Online fine-tunes a Decision Transformer with the Online Decision Transformer
// (Zheng et al. 2022). Its ingredients, as in the paper:
//
//   - a stochastic policy: the model's Gaussian head (tanh-squashed) for continuous
//     actions, its categorical head for discrete ones;
//   - the loss −(log-likelihood + λ·entropy) with the temperature λ learned so that
//     the policy's entropy stays at or above a target (ODT's constrained problem,
//     solved by dual gradient steps as in SAC): L(log λ) = λ·(H − target) with H
//     held fixed, so λ falls while the entropy exceeds the target and rises when it
//     drops below. The target is −|A| for continuous actions (ODT) and
//     DiscreteEntropyShare·log N for N discrete ones;
//   - a trajectory-level replay buffer (replay.Buffer) seeded with the offline
//     trajectories of highest return that fit, then first-in first-out;
//   - an offline phase: OfflineUpdates updates on the buffer as seeded, without
//     exploration (ODT pretrains on the target task's data first);
//   - then each iteration, exploration episodes with actions sampled from the
//     policy conditioned on the exploration return-to-go (ODT: twice the evaluation
//     target), added to the buffer. Returns-to-go in the buffer are computed from
//     the stored rewards, so every trajectory is conditioned on the return it
//     achieved (ODT's hindsight return relabelling);
//   - and UpdatesPerIteration updates on windows drawn from the buffer, with LAMB
//     (ODT's optimizer) by default.
//
// Randomness: everything comes from the one *rand.Rand given to NewOnline, which the
// model should share (pass it to policy.New or LoadRand) so that dropout and the
// Gaussian head's entropy samples come from it too. The draws of an iteration, in
// order: one Int64N for the environment seeds of its episodes (episode j of the
// iteration resets with that base + j); then, at every exploration step, one sample
// per environment slot in slot order (policy.Model.Act: one Float64 for a categorical
// action, one NormFloat64 per component for a Gaussian one); then, per update, the
// buffer's window draws (one IntN per window) followed by the model's dropout masks
// and Gaussian entropy noise. The offline phase's updates draw as the iterations'
// updates do. The same seed and NumEnvs give bit-identical runs.
//
// Drive it with Step (one update, as RunLoop drives trainers) or Iterate (the rest of
// the offline phase or of an iteration). Between two updates the trainer is always
// in a state SaveState captures, and a resumed run finishes an interrupted phase or
// iteration without repeating its rollouts, exactly as the uninterrupted run would.
type Online struct {
	cfg   OnlineConfig
	task  envs.Task
	model *policy.Model
	buf   *replay.Buffer
	opt   nn.Optimizer
	sched nn.Schedule
	clip  float64
	rng   *rand.Rand
	batch *policy.Batch // raw windows as the buffer writes them and the model reads them

	logTemp       *nn.Param // log λ, shape (1), trained by tempOpt
	tempOpt       *nn.AdamW
	targetEntropy float64

	actor *policy.Actor // exploration, with sampled actions

	lastExplore Exploration
	exploreMean exploreMeans // of lastExplore; kept across a resume
	bufStats    *BufferStats // nil when the buffer changed since it was computed

	iter        int  // iterations completed
	rolledOut   bool // the current iteration's episodes are in the buffer
	iterUpdates int  // updates taken in the current iteration
	updates     int  // updates taken in the whole run, the offline phase's included
}

// ExploreSource is the replay.Episode.Source of the exploration episodes, which
// tells them from the offline data in the buffer.
const ExploreSource = "odt-explore"

// NewOnline prepares online fine-tuning of params on task. params are the parameters
// to train, as for NewOffline: nil means the model's trainable ones; for LoRA
// methods, the adapters'. offline seeds the replay buffer (may be empty when
// OfflineUpdates is 0: the first rollouts fill it); the buffer aliases those
// episodes. rng is the run's one random source (see Online). Sizes that cannot fit
// in memory with this model (batch_size, num_envs, episodes_per_iteration) are
// errors naming the field and the limit.
func NewOnline(model *policy.Model, params []*nn.Param, task envs.Task, offline []*replay.Episode, cfg OnlineConfig, rng *rand.Rand) (*Online, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rng == nil {
		return nil, fmt.Errorf("online: nil random source")
	}
	if cfg.OfflineUpdates > 0 && len(offline) == 0 {
		return nil, fmt.Errorf("online %s: offline_updates = %d but no offline data seeds the buffer (give data, or offline_updates: 0)", task.ID, cfg.OfflineUpdates)
	}
	mc := model.Config()
	if err := mc.CheckBatchSize("batch_size", cfg.BatchSize); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	// The actor runs one window per environment through the model at once, and an
	// iteration keeps its episodes (at least a step each) until they join the buffer.
	if err := mc.CheckBatchSize("num_envs", min(cfg.NumEnvs, cfg.EpisodesPerIteration)); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	perEpisode := float64(8 + 4*(2*mc.StateDim+mc.Action.Width()+1) + 256)
	if err := limits.Check("episodes_per_iteration", float64(cfg.EpisodesPerIteration), float64(cfg.EpisodesPerIteration)*perEpisode,
		"the iteration's exploration episodes (one step each at the least)"); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	var target float64
	switch mc.Head {
	case policy.HeadGaussian:
		target = -float64(mc.Action.Dim)
	case policy.HeadCategorical:
		target = cfg.DiscreteEntropyShare * math.Log(float64(mc.Action.Discrete))
	default:
		return nil, fmt.Errorf("online: the policy's head is %q, the Online Decision Transformer needs a stochastic one (%q for continuous actions, %q for discrete)",
			mc.Head, policy.HeadGaussian, policy.HeadCategorical)
	}
	trainable, err := trainableParams(model, params)
	if err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	o := &Online{cfg: cfg, task: task, model: model, rng: rng, clip: cfg.ClipNorm, targetEntropy: target,
		lastExplore: Exploration{Iteration: -1}}
	if o.opt, err = nn.NewOptimizer(trainable, cfg.Optimizer); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	if o.sched, err = nn.NewSchedule(cfg.Schedule); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	// ODT's temperature: log λ with its own Adam (betas 0.9, 0.999), no weight decay.
	o.logTemp = &nn.Param{Name: "log_temperature", Shape: []int{1},
		Data: []float32{float32(math.Log(cfg.InitTemperature))}, Grad: []float32{0}}
	if o.tempOpt, err = nn.NewAdamW([]*nn.Param{o.logTemp}, nn.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}); err != nil {
		return nil, fmt.Errorf("online: temperature: %w", err)
	}
	if o.buf, err = o.newBuffer(offline); err != nil {
		return nil, err
	}
	if err := CheckTasks(mc, []envs.Task{task}); err != nil {
		return nil, fmt.Errorf("online: %w", err)
	}
	if o.actor, err = policy.NewActor(model, min(cfg.NumEnvs, cfg.EpisodesPerIteration), false, rng); err != nil {
		return nil, err
	}
	o.batch = policy.NewBatch(mc, cfg.BatchSize)
	return o, nil
}

// newBuffer builds the replay buffer over raw windows (the model normalises itself).
func (o *Online) newBuffer(initial []*replay.Episode) (*replay.Buffer, error) {
	buf, err := replay.NewBuffer(o.cfg.BufferSize, initial)
	if err != nil {
		return nil, fmt.Errorf("online %s: %w", o.task.ID, err)
	}
	o.bufStats = nil
	return buf, nil
}

// Offline reports whether the trainer is in its offline phase (the next update is
// one of the first OfflineUpdates).
func (o *Online) Offline() bool { return o.updates < o.cfg.OfflineUpdates }

// Step takes one update, as the run loop drives trainers (Stepper): at the start of
// an iteration it first collects the iteration's exploration episodes into the buffer
// (LastExploration reports them). The loop's step count is the update count, so
// OfflineUpdates + Iterations × UpdatesPerIteration updates make the whole run.
// StepStats.Extra carries the metrics of the run loop's training rows: the phase
// (MetricOnlineIteration: the iteration the update belongs to, −1 in the offline
// phase), the buffer's make-up (BufferStats), the latest exploration's means, the
// temperature after the update and the batch's entropy.
func (o *Online) Step() (StepStats, error) {
	iter := o.iter
	if o.Offline() {
		iter = -1
	}
	l, norm, lr, err := o.step()
	if err != nil {
		return StepStats{Loss: float64(l.Loss), GradNorm: norm, LR: lr}, err
	}
	return StepStats{Loss: float64(l.Loss), GradNorm: norm, LR: lr, Extra: o.metrics(iter, l)}, nil
}

// metrics is the Extra of an update of iteration iter (−1: offline phase).
func (o *Online) metrics(iter int, l policy.Loss) map[string]float64 {
	bs := o.BufferStats()
	m := map[string]float64{
		MetricOnlineIteration:     float64(iter),
		MetricBufferOnlineShare:   bs.OnlineShare,
		MetricBufferOfflineReturn: bs.OfflineReturn,
		MetricTemperature:         o.Temperature(),
		MetricEntropy:             float64(l.Entropy),
	}
	if bs.OnlineEpisodes > 0 {
		m[MetricBufferOnlineReturn] = bs.OnlineReturn
	}
	if e := o.exploreMean; e.Episodes > 0 {
		m[MetricExploreReturn], m[MetricExploreLength], m[MetricExploreSuccess] = e.Return, e.Length, e.Success
	}
	return m
}

// exploreMeans summarises an iteration's exploration episodes for the metrics.
type exploreMeans struct {
	Episodes                int
	Return, Length, Success float64 // means; Success is the success rate
}

func meansOf(ex Exploration) exploreMeans {
	e := exploreMeans{Episodes: len(ex.Returns)}
	for i := range ex.Returns {
		e.Return += ex.Returns[i]
		e.Length += float64(ex.Lengths[i])
		if ex.Successes[i] {
			e.Success++
		}
	}
	if n := float64(e.Episodes); n > 0 {
		e.Return, e.Length, e.Success = e.Return/n, e.Length/n, e.Success/n
	}
	return e
}

// BufferStats describes what the replay buffer holds: how much of it the policy's
// own exploration wrote, and how good the two kinds of trajectories are.
type BufferStats struct {
	// OnlineEpisodes and OfflineEpisodes count the trajectories by origin
	// (ExploreSource marks the online ones).
	OnlineEpisodes, OfflineEpisodes int
	// OnlineShare is the online trajectories' share of the buffer's transitions,
	// the share of the windows the updates draw (trajectories are drawn in
	// proportion to their length).
	OnlineShare float64
	// OnlineReturn and OfflineReturn are the mean returns of the two kinds (0 when
	// there are none).
	OnlineReturn, OfflineReturn float64
}

// BufferStats returns the buffer's make-up (computed again only after the buffer
// changed).
func (o *Online) BufferStats() BufferStats {
	if o.bufStats != nil {
		return *o.bufStats
	}
	var bs BufferStats
	var onSteps, allSteps int
	for _, ep := range o.buf.Episodes() {
		allSteps += ep.Len()
		if ep.Source == ExploreSource {
			bs.OnlineEpisodes++
			onSteps += ep.Len()
			bs.OnlineReturn += ep.Return()
		} else {
			bs.OfflineEpisodes++
			bs.OfflineReturn += ep.Return()
		}
	}
	if bs.OnlineEpisodes > 0 {
		bs.OnlineReturn /= float64(bs.OnlineEpisodes)
	}
	if bs.OfflineEpisodes > 0 {
		bs.OfflineReturn /= float64(bs.OfflineEpisodes)
	}
	if allSteps > 0 {
		bs.OnlineShare = float64(onSteps) / float64(allSteps)
	}
	o.bufStats = &bs
	return bs
}

// StepCount is the number of updates taken since the start of the run (across
// resumes).
func (o *Online) StepCount() int { return o.updates }

// Iterate runs the rest of the current unit of work — the offline phase while it
// lasts, else the current iteration: its exploration episodes unless they are in
// the buffer already, then its remaining updates — and reports it. ctx is checked
// before the rollouts and before each update; when it is cancelled, Iterate returns
// its error with the stats of the work done, and the trainer is at an update
// boundary, consistent for SaveState.
func (o *Online) Iterate(ctx context.Context) (OnlineStats, error) {
	st := OnlineStats{Iteration: o.iter, TargetEntropy: o.targetEntropy}
	offline := o.Offline()
	if offline {
		st.Iteration = -1
	}
	var sumLoss, sumNLL, sumEnt, sumNorm float64
	finish := func() {
		if st.Updates > 0 {
			n := float64(st.Updates)
			st.Loss, st.NLL, st.Entropy, st.GradNorm = sumLoss/n, sumNLL/n, sumEnt/n, sumNorm/n
		}
		st.Temperature = o.Temperature()
		st.BufferEpisodes, st.BufferTransitions = o.buf.Len(), o.buf.Transitions()
		st.TotalUpdates = o.updates
	}
	for (offline && o.Offline()) || (!offline && o.iter == st.Iteration) {
		if err := ctx.Err(); err != nil {
			finish()
			return st, err
		}
		collect := !offline && !o.rolledOut
		l, norm, lr, err := o.step()
		if collect && o.lastExplore.Iteration == st.Iteration {
			ex := o.LastExploration()
			st.ExploreReturns, st.ExploreLengths, st.ExploreSuccesses = ex.Returns, ex.Lengths, ex.Successes
		}
		if err != nil {
			finish()
			return st, err
		}
		sumLoss, sumNLL, sumEnt, sumNorm = sumLoss+float64(l.Loss), sumNLL+float64(l.NLL), sumEnt+float64(l.Entropy), sumNorm+norm
		st.Updates++
		st.LR = lr
	}
	st.Done = true
	finish()
	return st, nil
}

// Exploration describes the episodes an iteration collected.
type Exploration struct {
	// Iteration is the iteration that collected them (−1 before any).
	Iteration int
	// Target is the return-to-go the episodes were conditioned on.
	Target    float64
	Returns   []float64
	Lengths   []int
	Successes []bool
}

// LastExploration returns the most recent exploration episodes' summary (a resumed
// run reports nothing until its next rollouts; the metrics keep their means).
func (o *Online) LastExploration() Exploration { return o.lastExplore }

// step is one update: of the offline phase, or of an iteration, preceded by the
// iteration's rollouts when it starts one.
func (o *Online) step() (policy.Loss, float64, float64, error) {
	if o.Offline() {
		return o.update()
	}
	if o.iter >= o.cfg.Iterations {
		return policy.Loss{}, 0, 0, fmt.Errorf("online: all %d iterations are done", o.cfg.Iterations)
	}
	if !o.rolledOut {
		eps, err := o.explore()
		if err != nil {
			return policy.Loss{}, 0, 0, err
		}
		ex := Exploration{Iteration: o.iter, Target: o.cfg.ExploreTarget()}
		for _, ep := range eps {
			if err := o.buf.Add(ep); err != nil {
				return policy.Loss{}, 0, 0, fmt.Errorf("online %s: %w", o.task.ID, err)
			}
			ex.Returns = append(ex.Returns, ep.Return())
			ex.Lengths = append(ex.Lengths, ep.Len())
			ex.Successes = append(ex.Successes, ep.Success)
		}
		o.bufStats = nil
		o.lastExplore, o.exploreMean = ex, meansOf(ex)
		o.rolledOut = true
	}
	l, norm, lr, err := o.update()
	if err != nil {
		return l, norm, lr, err
	}
	o.iterUpdates++
	if o.iterUpdates == o.cfg.UpdatesPerIteration {
		o.iter++
		o.rolledOut, o.iterUpdates = false, 0
	}
	return l, norm, lr, nil
}

// update takes one gradient step of the policy and one of the temperature.
func (o *Online) update() (policy.Loss, float64, float64, error) {
	if err := o.buf.Sample(o.rng, o.batch); err != nil {
		return policy.Loss{}, 0, 0, fmt.Errorf("online update %d: %w", o.updates, err)
	}
	o.model.SetTrain(true)
	if err := o.model.Forward(o.batch); err != nil {
		return policy.Loss{}, 0, 0, fmt.Errorf("online update %d: %w", o.updates, err)
	}
	lambda := float32(o.Temperature()) // held fixed in the policy's loss, as ODT detaches it
	loss := o.model.Loss(o.batch, lambda)
	if !finite32(loss.Loss) || !finite32(loss.Entropy) {
		return loss, 0, 0, fmt.Errorf("online update %d: loss %v, entropy %v (learning rate too high, or bad data?)", o.updates, loss.Loss, loss.Entropy)
	}
	norm, lr := applyGradients(o.model, o.opt, o.sched, o.clip, o.updates)
	o.stepTemperature(loss.Entropy)
	o.updates++
	return loss, norm, lr, nil
}

// stepTemperature takes one Adam step on log λ for the batch's mean entropy H: the
// gradient of ODT's temperature loss λ·(H − target) with H held fixed, λ·(H − target).
func (o *Online) stepTemperature(entropy float32) {
	lambda := float32(o.Temperature())
	o.logTemp.Grad[0] = lambda * (entropy - float32(o.targetEntropy))
	o.tempOpt.Step(o.cfg.TemperatureLR)
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// Temperature is the current entropy weight λ.
func (o *Online) Temperature() float64 { return math.Exp(float64(o.logTemp.Data[0])) }

// TargetEntropy is the entropy the temperature is tuned to keep the policy above.
func (o *Online) TargetEntropy() float64 { return o.targetEntropy }

// Iteration is the number of iterations completed.
func (o *Online) Iteration() int { return o.iter }

// Done reports whether every configured iteration has run.
func (o *Online) Done() bool { return o.iter >= o.cfg.Iterations }

// Updates is the number of updates taken since the start of the run.
func (o *Online) Updates() int { return o.updates }

// Model is the model being trained.
func (o *Online) Model() *policy.Model { return o.model }

// Buffer is the replay buffer (read it; adding to it breaks exact resumption).
func (o *Online) Buffer() *replay.Buffer { return o.buf }

// Config is the configuration the trainer runs with.
func (o *Online) Config() OnlineConfig { return o.cfg }

// Optimizer is the policy's optimizer (LAMB or AdamW, as configured).
func (o *Online) Optimizer() nn.Optimizer { return o.opt }

var _ Stepper = (*Online)(nil)
