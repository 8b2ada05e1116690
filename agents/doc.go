// Package agents is where policies meet environments, and the base the training
// packages build on.
//
// # Acting
//
// Actor is the one interface for acting in environments: a Decision Transformer
// (policy.Actor), the scripted experts (expert.Actor) and a user's own policy all
// implement it, and Rollout is the one episode loop that runs any of them — over
// per-task quotas of episodes with explicit reset seeds, on a pool of environment
// slots, streaming each finished episode to a sink. Evaluation (Evaluate,
// EvaluateActor), the references of normalised scores (ComputeReference), EVA's
// rollouts (finetune.EVARollouts), ODT's exploration (Online), data collection
// (package collect), rl-train demo and watch all run through it.
//
// # Training
//
// Offline (return-conditioned supervised learning on windows of a dataset) and
// Online (the Online Decision Transformer) are the trainers; RunLoop drives either
// through its schedule of validation evaluations and checkpoints, redoing an
// evaluation an interruption cut short, so a resumed run writes what an
// uninterrupted one would. RunDir holds the rules of a run directory (never replace
// a run unasked, resume only with the config the run started with, swap
// checkpoints in whole), TrainState what a checkpoint saves besides the weights.
// Metrics go to a Recorder, with the names defined in recorder.go.
//
// The packages above: finetune (adapting a pretrained policy: methods, EVA, modes),
// pretrain, collect, experiment (comparisons of methods, keyed runs, rliable
// statistics), stats (the statistics), expert (the scripted experts).
//
// # Randomness and seeds
//
// Every random draw comes from an explicit *rand.Rand, derived by name from a run's
// Seed (Seed.Stream). Reset seeds come from three disjoint streams (seeds.go):
// training (datasets, exploration), validation (checkpoint selection) and test (what
// is reported). Episode j of an evaluation quota resets with its seed + j, so
// results depend on the seeds, not on how many environments ran them.
//
// # The Online Decision Transformer
//
// Online follows ODT (Zheng, Zhang & Grover 2022) as its code (facebookresearch/
// online-dt, main.py, defaults for hopper-medium-v2) runs it:
//
//   - offline phase: the replay buffer starts with the target task's offline
//     trajectories (the highest-return ones that fit its capacity), and the policy
//     takes OfflineUpdates updates on it with the online loss, without exploring
//     (ODT: one pretraining iteration of 5000 updates);
//   - then iterations: EpisodesPerIteration exploration episodes with sampled
//     actions, conditioned on ExploreScale × EvalTarget (ODT: 1 episode at 7200 for
//     an evaluation target of 3600), added first-in first-out (capacity 1000
//     trajectories, as ODT), then UpdatesPerIteration updates (ODT: 300);
//   - the loss −(log-likelihood + λ·entropy), λ = exp(log λ) trained by Adam (lr 1e-4,
//     initial 0.1) on λ·(H − target) with H held fixed, so that the entropy stays at
//     or above the target; −|A| for continuous actions (ODT);
//   - the policy's optimizer LAMB (nn.LAMB: ODT's variant, bias-corrected, no trust
//     clipping) with lr 1e-4 after a linear warm-up, weight decay 5e-4 and the
//     global gradient norm clipped to 0.25, all as in ODT.
//
// Where the defaults (DefaultOnlineConfig) differ from ODT's, to fit a run of
// minutes on two cores: OfflineUpdates 2000 (the offline mode's default budget)
// instead of 5000, 20 iterations instead of up to 1500, batch 64 instead of 256, the
// warm-up a tenth of the run instead of 10 000 updates.
//
// Adapters and LAMB: LAMB scales each tensor's step by ‖w‖/‖update‖, so a tensor
// that starts at zero — LoRA's B (or an embedding adapter's A) — takes one plain
// Adam step and then grows only by the factor (1 + ~lr) per update. Zero-initialised
// adapters barely move under LAMB; fine-tune them with kind adamw (the finetune
// configs of this repository do).
//
// # Discrete actions: the target entropy
//
// ODT has no discrete-action experiments, so its paper gives no target for them.
// SAC-discrete (Christodoulou 2019) sets the target to 0.98·log N and CleanRL's
// sac_atari to 0.89·log N, both close to the uniform policy's log N: there the
// entropy bonus sits beside a critic, whereas in ODT the entropy floor is all that
// keeps a likelihood-trained policy exploring. Translating ODT's continuous target
// instead (−1 nat per dimension, 1 + log 2 nats below the uniform tanh-squashed
// density's log 2) gives log N − 1.69, below 0 for N ≤ 5: no floor at all. The
// default share is 0.5, between the two. Measured by TestDiscreteEntropySweep (ODT
// from scratch on a small gridworld, N = 3, 1500 updates, greedy success over 8
// seeds for shares 0 / 0.2 / 0.5 / 0.89 / 0.98): with ODT's temperature learning rate
// 1e-4, λ stays within 0.089–0.122 of its initial 0.1 and the target hardly acts
// (0.87 / 0.87 / 0.82 / 0.88 / 0.80); with a temperature learning rate of 1e-2, λ
// holds the entropy at the target and the ends lose — no floor (λ → 0.003) 0.65,
// SAC-discrete's near-uniform 0.98 (λ → 2.1) 0.76 — against 0.94 / 0.79 / 0.93 for
// 0.2 / 0.5 / 0.89, which 8 seeds do not separate. 0.5 stays the default, the middle
// of the range that works; the temperature learning rate stays ODT's, so in runs of
// a few thousand updates the entropy term acts as a bonus of weight ≈ 0.1.
//
// # Metrics
//
// Every update's StepStats.Extra carries the online metrics (MetricOnlineIteration
// … MetricEntropy), so every training row the run loop records has them: the phase,
// the buffer's share of online transitions and the mean returns of its online and
// offline trajectories, the last iteration's exploration return, length and success
// rate, λ and the entropy. They are saved with the trainer's state, so a resumed
// run's rows are the uninterrupted run's.
package agents
