// Package policy is evarl's Decision Transformer (Chen et al. 2021): the model built
// from package nn's layers, its three action heads, batched acting, and checkpoints.
//
// # Data flow
//
// A Batch holds B windows of K steps, left-padded, in raw units (returns-to-go as
// accumulated, states as observed, actions as taken). Model.Forward scales returns by
// Config.ReturnScale, normalises states with the statistics set by SetStateNorm,
// maps continuous actions to [-1, 1], embeds each step as three tokens (return,
// state, action) plus a learned timestep embedding, and runs Layers pre-LN GPT blocks
// over the 3K tokens with a causal mask that also excludes padding keys. The action
// of step t is read from the state token sₜ:
//
//	categorical    N logits, softmax cross-entropy (discrete actions)
//	deterministic  tanh of A outputs, MSE against the action in [-1, 1]
//	gaussian       A means and A bounded log-σ of a tanh-squashed Gaussian; loss =
//	               −log-likelihood − λ·entropy (one reparameterised sample), as the
//	               Online Decision Transformer; the trainer supplies and learns λ
//
// Training is Forward, Loss, Params().ZeroGrad(), Backward, then an nn optimizer.
// Acting (Model.Act) runs an inference-only forward pass on the recent context of
// each environment of a vector env — no dropout, nothing kept for a backward pass,
// and the last block, ln_f and the head at the current state token only — and
// returns greedy or sampled actions in environment units; its documentation
// explains why it uses no key/value cache.
//
// # Buffers and ownership
//
// A Model owns every activation buffer. They are sized on the first Forward for a
// given number of step rows (B·K) and only grow, so after the first step neither a
// training step nor Act allocates. The model is not safe for concurrent use, and
// Forward of one batch must be followed by Loss and Backward of the same batch
// before the next Forward (Act is a Forward).
//
// # Parallelism
//
// A batch of two or more windows is split in two halves that run on two goroutines
// through two sets of layers sharing the same weights (parallel.go); the second
// set's gradients are added into the parameters' after Backward. The split depends
// only on the batch size, so results are the same on any number of cores. Adapters
// hold per-call state: one that implements nn.AdapterForker (package lora's LoRA
// and DoRA adapters on Linear layers) gets a fork on the second set, whose gradients
// are added in the same way. The split is skipped while an observer, an adapter
// that cannot fork or an embedding hook is attached, and then only nn's own
// parallel kernels are used.
//
// Backward computes only what something learns from: it stops below the lowest
// trainable parameter or adapter (under LoRA on the blocks, block 0's input gradient
// and the embeddings' backward are skipped, as autograd skips them).
//
// # Names
//
// Parameters are named as the layers: "embed_timestep.weight", "embed_return",
// "embed_state", "embed_action" (a Linear for continuous actions, an embedding table
// for discrete ones), "embed_ln", "blocks.{i}.ln1", "blocks.{i}.attn.{q,k,v,o}",
// "blocks.{i}.ln2", "blocks.{i}.mlp.{fc,proj}", "ln_f", "head", each with ".weight"
// and, where present, ".bias". Model.Linears lists the Linear layers and
// Model.Embeddings the embedding tables by these names for lora and eva to attach
// adapters and observers to; Model.SetTrain passes the training mode on to those
// hooks that implement nn.TrainMode (adapter dropout).
//
// # Checkpoints
//
// A checkpoint is a directory with model.safetensors (every parameter, F32) and
// config.json (format and version, the Config, state statistics); see Save and
// LoadWith. The weights file's metadata records the SHA-256 of config.json and a
// digest of its own content (docs/file-integrity.md), so Load refuses a damaged or
// edited checkpoint, naming the file; one without checksums (format version 1, or
// written by another tool) loads only with LoadOptions.AllowUnverified. Sizes are
// checked before anything is allocated: Config.Validate refuses a model that does
// not fit in memory (Config.Footprint), naming the field, and Config.CheckBatchSize a
// batch. Differences from the reference PyTorch code: dropout is applied to the
// embeddings and to each block's two residual branches, not to the attention
// probabilities (nn's attention has no dropout), and timesteps past
// MaxEpisodeLen−1 share the last timestep embedding instead of failing.
package policy
