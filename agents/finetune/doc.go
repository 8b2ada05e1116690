// Package finetune adapts a pretrained Decision Transformer to new tasks: full
// fine-tuning, or LoRA adapters initialised at random (PEFT's default), from the
// base weights (PiSSA, OLoRA) or from the policy's own activations on the new task
// (EVA), optionally weight-decomposed (DoRA, the adapters' use_dora); offline
// (return-conditioned supervised learning on the task's data) or online (the
// Online Decision Transformer). It is the library behind `rl-train finetune` and
// `rl-train run`, shaped as Stable-Baselines3 and d3rlpy shape theirs:
//
//	base, _ := finetune.LoadPolicy("pretrained/gridworld", "", nil)
//	tuner, _ := finetune.New(ctx, base, tasks, episodes, finetune.DefaultConfig(), finetune.Options{RunDir: "runs/x"})
//	result, _ := tuner.Learn(ctx, recorder)
//	policy, _ := finetune.LoadPolicy("pretrained/gridworld", "runs/x/best", nil) // adapter merged
//
// # Evaluation protocol
//
// Three disjoint streams of reset seeds (package agents, seeds.go): training
// (datasets, EVA's rollouts, online exploration), validation (the evaluations during
// training, which select the best checkpoint) and test (what Result reports). New
// refuses data recorded with a validation or test seed. The base policy before
// fine-tuning, the validation-selected checkpoint ("best") and the last checkpoint
// are each evaluated on the same test seeds, with normalised scores whose
// references (random play and the scripted expert) ran on those very seeds.
//
// # Run directory
//
// With Options.RunDir, a run keeps everything in one directory:
//
//	config.json              the run's Config (Resume refuses other changes than ResumableFields)
//	before.json              the base policy's test evaluation
//	eva_state.safetensors    the EVA state (method eva)
//	metrics.jsonl            one row per LogEvery updates and per validation
//	learning_curve.png       validation score, success rate, training loss
//	best/, last/             checkpoints: adapter (PEFT layout) or policy, and trainer state
//	results.json, results.md the Result and its tables
//
// New refuses a directory that already holds a run unless Options.Overwrite.
// Checkpoints are written to a temporary directory and swapped in (agents.RunDir,
// internal/atomicfile), so best/ and last/ are always
// complete. An interruption at any moment — Ctrl-C, SIGTERM, or kill -9 — loses at
// most the updates since the last checkpoint: Learn saves last/ when its context is
// cancelled (with the evaluation it interrupted marked undone), and Resume
// continues so that best/, last/ and the metrics are those of an uninterrupted run.
//
// # Online mode
//
// Mode online runs the Online Decision Transformer's protocol (agents.Online): an
// offline phase of online.offline_updates updates on a replay buffer seeded with the
// task's data, then online.iterations iterations of exploration episodes and
// updates. The whole run is online.offline_updates + iterations ×
// updates_per_iteration updates; validation, checkpoints and resume work as in
// offline mode, across the phase boundary too. Offline mode with train.steps equal
// to online.offline_updates (and the same optimizer) is the "offline phase alone"
// to compare with (configs/odt-*.yaml). The training rows carry the online metrics
// (agents.MetricOnlineIteration …): the buffer's share of online transitions, the
// returns of its online and offline trajectories, exploration return, length and
// success, the temperature and the entropy.
//
// # Randomness
//
// Every draw comes from a stream derived by name from Config.Seed
// (agents.Seed.Stream): "adapters" (initialisation), "eva" (rollout seeds and
// sampled actions, window draws), "train" (window sampling, dropout, exploration;
// saved in every checkpoint), "eval" (sampled evaluation actions). The same config
// and seed give the same run.
package finetune
