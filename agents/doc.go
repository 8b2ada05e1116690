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
package agents
