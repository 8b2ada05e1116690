// Package lora adds LoRA adapters (Hu et al. 2021) to the nn.Linear layers and
// nn.Embedding tables of a model, following Hugging Face PEFT's LoRA
// (tuners/lora/layer.py, dora.py, variants.py, config.py): an adapter wraps the base
// layer through its hook instead of changing it, and adds
//
//	Linear:     y = x·Wᵀ + b + scale · (dropout(x)·Aᵀ)·Bᵀ     A (r, in), B (out, r)
//	Embedding:  y = W[id] + scale · B·A[:, id]               A (r, N),  B (C, r)
//
// with scale = alpha/r (alpha/√r with rsLoRA) and A, B the only trainable parameters
// besides the modules a config trains fully: Apply freezes every other base
// parameter. An embedding adapter is PEFT's lora.Embedding: the table W (N, C) is the
// linear map V = Wᵀ of the one-hot vector e_id, so it is a Linear adapter on V; as in
// PEFT its B starts random and A at zero, and it has no dropout.
//
// # Choosing layers
//
// target_modules entries match a layer name or a dot-separated suffix of it, as in
// PEFT ("attn.q" matches "blocks.0.attn.q"), or are presets, named groups of a
// Decision Transformer's layers (package policy's names):
//
//	attention      attn.q, attn.k, attn.v, attn.o in every block
//	mlp            mlp.fc, mlp.proj
//	attention-mlp  both (DefaultTargets: L2M's placement, which EVA's RL experiment follows)
//	embeddings     embed_return, embed_state, embed_action, embed_timestep
//	all-linear     every Linear except the output head (PEFT's "all-linear")
//	all            every Linear, the head included, and every embedding table
//	layer-norms    every LayerNorm (modules_to_save only: LoRA cannot adapt one)
//
// so [attention-mlp, head] or [all] is a whole config. Every entry must select at
// least one layer, and target_regex, every rank_pattern and alpha_pattern key and
// every modules_to_save entry at least one layer or module: a misspelt or foreign
// name is an error that names it, never a silently smaller adapter. rank_pattern and
// alpha_pattern override r and alpha per layer, and a rank of 0 leaves a layer
// without adapter (EVA's redistribution produces those). Targets resolves a config
// against a model without attaching anything.
//
// modules_to_save (PEFT's) trains whole modules next to the adapters and saves them
// in the adapter file as PEFT does ("base_model.model.head.weight"). With the
// presets it also gives L2M's fine-tuning switches (ml-jku/L2M's freeze():
// exclude_action_head, exclude_embeds, exclude_lns): modules_to_save: [head],
// [embeddings], [layer-norms]. A module cannot be both adapted and trained fully (PEFT
// refuses it too).
//
// # Initialisation
//
// Config.Init: random (PEFT's default: Kaiming-uniform A and B = 0), gaussian, pissa
// and olora (which move the top of V into the adapter and leave the residual in the
// base weight), and eva (A from package eva's state, B = 0). Embedding adapters get
// PEFT's embedding init (A = 0, B ~ N(0, 1)) under random and gaussian, pissa and
// olora on V (where PEFT silently falls back to its default), and eva as below.
// Whatever the init, the adapted model starts computing exactly what the base did.
//
// # DoRA
//
// With use_dora (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation";
// PEFT's DoraLinearLayer and DoraEmbeddingLayer) each adapter also trains a magnitude
// vector m, named "<layer>.lora_magnitude_vector", one entry per row of V (a
// Linear's output, a table's channel), and the adapted weight is
//
//	W' = g ⊙ (V + scale·B·A),   g = m / ‖V + scale·B·A‖   (norm of each row of V)
//
// so a Linear computes b + g⊙(x·(W + scale·B·A)ᵀ) and a table g⊙(W + ΔW)[id]. As in
// PEFT and the paper's section 4.3, the norm is recomputed at every forward but
// detached: backward treats it as a constant, so A and B get g⊙dy's gradient and m
// gets Σ dy⊙(V·x + l)/norm. With dropout, as in PEFT, the base product keeps the
// whole input and DoRA's correction sees the dropped one, x_d:
// y = x·Wᵀ + b + (g − 1)⊙(x_d·Wᵀ) + g⊙scale·(x_d·Aᵀ)·Bᵀ. m starts
// at the row norms of the (residual-adjusted) base weight plus the init's product, so
// g = 1 and DoRA combines with every init (EVA+DoRA: B = 0 and m = ‖W‖).
//
// # EVA on an embedding table
//
// EVA sets lora_A to the top right-singular vectors of a layer's inputs on the task.
// A table's inputs are one-hot rows e_id, and that settles what EVA can mean there.
//
// Uncentred, XᵀX = diag(c) with c_i the number of real tokens that looked up id i:
// the right-singular vectors are exactly the basis vectors e_i, in order of c_i,
// with singular values √c_i. No iteration is needed; counting the ids is the exact
// SVD. Centred, as the incremental PCA of the Linear layers is, the covariance
// diag(p) − p·pᵀ (p = c/n) has the null vector 1 (one-hot rows sum to 1, so the shift
// of every row in the same direction carries no variance and would never be chosen),
// and where ids are about equally frequent it has one eigenvalue of multiplicity
// M − 1: the principal directions are not determined, incremental PCA does not
// converge under tau, and ranks redistributed from those ratios would rest on noise.
// Timesteps are that case: every rollout visits t = 0, 1, 2, … once, so their counts
// are flat over the visited range.
//
// The rank settles the rest. ΔW = scale·(B·A)ᵀ has rank at most min(r, N). When
// r ≥ N, as for discrete actions (N = 3 against r = 8), N rows of A span every row of
// the table and more rows add parameters, not reach: the rank is cut to N (alpha
// scaled so that alpha/r, i.e. the scale, stays: EVA's adjust_scaling_factors rule),
// and A is the N basis vectors in order of frequency. With B = 0 that adapter can
// move every row of the table independently, which is what a task that permutes the
// actions needs (full fine-tuning swaps two rows); the data only order the rows. When
// r < N, as for timesteps (N = the maximum episode length, e.g. 512), A is e of the r
// most frequent ids, ties to the smaller id: the adapter starts on the rows the task
// visits most, and since rollouts start at t = 0, on the first r timesteps. Other rows
// are not shut out (A trains too, and A's column of id receives Bᵀ·dy once B ≠ 0),
// but with flat counts the data say little here: for the timestep table EVA is a weak
// prior, not a measured direction.
//
// Two EVA settings do not apply to tables: whitening (dividing e_i by √S_i = c_i^¼
// would only tie a row's step size to its visit count), and rank redistribution (the
// ratios c_i/n are shares of a second moment, not of a variance, so pooling them with
// the Linear layers' explained-variance ratios would compare different things): a
// table keeps its nominal rank, cut at N. So all an EVA pass must provide for a table
// is its id counts over the real tokens of the EVA data (Options.EvaCounts; an
// nn.IDObserver on the table sees the ids and the padding mask).
//
// # Switching, merging, files
//
// SetTrain switches adapter dropout; a policy.Model's SetTrain reaches the adapters
// itself, since they implement nn.TrainMode, and adapters attached to a model start
// in its mode. SetEnabled(false) (PEFT's disable_adapter) makes the model compute
// exactly what the base model did, with the adapters still attached: for an EVA
// pass or a comparison. DropoutState and SetDropoutState carry the dropout streams
// across a resume.
//
// Merge folds each adapter into its base weight for inference (W + scale·B·A, or
// DoRA's g⊙(W + scale·B·A); safe mode refuses NaN/Inf); Unmerge puts the weight back
// bit for bit; MergeAndUnload merges and removes the adapters for good (PEFT's
// merge_and_unload), leaving a plain, hook-free model. Save writes adapter_config.json and adapter_model.safetensors as PEFT
// lays them out, with tensor names "base_model.model.<layer>.lora_A.weight",
// "….lora_embedding_A", "….lora_magnitude_vector", and a fingerprint of the base
// model, so that Load onto another checkpoint, or with tensors of the wrong shape, is
// an error rather than a silently wrong model. The weights file's metadata also
// records the SHA-256 of adapter_config.json and a digest of its own content
// (docs/file-integrity.md; PEFT ignores both), so a damaged or edited adapter is
// refused naming the file; an adapter without them (one PEFT saved) loads with
// Options.AllowUnverified.
//
// An adapter's rank is at most max(in, out) of its layer or table (2·max(in, out)
// for a loaded adapter: saved PiSSA/OLoRA adapters double their rank). Its update
// B·A has rank at most min(in, out), so ranks between the two add parameters, not
// expressiveness, as in PEFT (a uniform r on a one-input return embedding); beyond
// the layer's widest side the parameters are useless, and such an r in a config or a
// file is an error before anything is allocated (see checkRank).
//
// Kernels follow package nn: Forward keeps what Backward needs (the dropout mask,
// the product x·Aᵀ, DoRA's g and V·x + l), Backward adds into the gradients, buffers
// are reused across steps. Every kernel's gradients are checked against gorgonia's
// autodiff in float64.
package lora
