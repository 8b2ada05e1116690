// Package eva computes EVA (Explained Variance Adaptation; Paischer et al. 2024,
// arXiv 2410.07170) initialisations for LoRA adapters, following the reference
// implementation in Hugging Face PEFT (tuners/lora/eva.py, utils/incremental_pca.py).
//
// The pass, in the order the code runs it:
//
//  1. Capture (capture.go): an nn.Observer on every target layer copies the layer's
//     input rows during a forward pass of the base model (adapters off), dropping
//     padding rows: the Decision Transformer passes its per-step mask expanded to
//     its three tokens per step, so only real tokens are kept; Config.LabelMask may
//     keep fewer (below). The minibatches come from the caller, as PEFT's
//     get_eva_state_dict(model, dataloader, forward_fn) takes them: a Forward
//     callback runs the model on the next one (package agents builds them from
//     rollouts of the pretrained policy or from dataset windows), so eva needs no
//     environment and no dataset code. With two or more Ps, Compute runs the
//     forward pass of minibatch t+1 while the PCAs fold in minibatch t, into a
//     second set of buffers; the minibatches and their order are those of the
//     sequential pass, so the state is the same bit for bit (the source may be
//     read once more than the pass uses, and that minibatch's embedding ids are
//     not counted; Options.Sequential turns the overlap off).
//  2. Sharing (pass.go): on the first minibatch, layers whose inputs are exactly
//     equal (attn.q, attn.k and attn.v read the same LayerNorm output) are grouped;
//     the first owns one PCA and the others use it.
//  3. PCA: one per owner, fed one minibatch at a time, by the method of Config.PCA
//     (below). Both methods report the same Estimate: unit components with the
//     sign convention that the largest-magnitude entry is positive, singular values
//     of the centred data, explained variances S²/(N−1) and ratios S²/(N·Σ var), the
//     share of the layer's total input variance. A minibatch with fewer rows than
//     components is skipped and counted by both.
//  4. Convergence, the same for both methods: after each update, a component is
//     converged when the cosine between its new and previous estimate is ≥ tau (a
//     signed cosine, hence the sign convention); a layer when its first rank
//     components are. Nothing is converged after the first update. For the exact
//     PCA the previous estimate is the batch PCA of all rows before the minibatch,
//     so the test asks whether one more minibatch still moves the batch PCA.
//     Converged layers stop updating (and resume if redistribution raises their rank).
//  5. Redistribution (ranks.go): the budget Σ r over all target layers goes to the
//     largest explained-variance ratios pooled across layers (ties by layer order,
//     then component order); within a shared group the owner takes the largest rank.
//     A layer narrower than round(r·rho) (the return embedding reads one number)
//     offers only as many components as its input width.
//     5b. Embedding tables (the timestep and discrete action tables, when targeted):
//     their input is one-hot, so the pass only counts the ids each table looks up
//     for real tokens (an nn.IDObserver); package lora's doc explains why the counts
//     are the whole EVA init of a table. Tables take no part in redistribution.
//     During the pass every attached adapter is switched off (lora's SetEnabled),
//     so the activations are the base model's at every layer.
//  6. State (state.go): per layer the rank, components, singular values and ratios,
//     saved as safetensors with JSON metadata (the config records the method and
//     the label mask); Apply turns it into LoRA adapters: lora_A = the first rank
//     components (divided by √S with whiten), lora_B = 0, so the adapted model
//     starts exactly at the pretrained one; rank 0 means no adapter; with
//     adjust_scaling_factors alpha follows the rank so alpha/r is unchanged.
//
// # PCA methods
//
//   - exact (exact.go, the default): the column mean and the d×d scatter matrix
//     Σ(x − mean)(x − mean)ᵀ accumulated in float64, each minibatch merged with the
//     pairwise update of Chan, Golub and LeVeque, and after each minibatch the
//     leading eigenvectors of the scatter matrix (symeig.go, tridiag.go: a blocked
//     Householder tridiagonalisation, the tridiagonal eigenvalues, inverse
//     iteration for the round(r·rho) wanted vectors). It is the batch PCA of all
//     rows seen so far, to rounding, whatever the batch size and order. An update
//     costs n·d² for the product and about 2·d³ for the eigenvectors. On a model
//     whose backend is OpenBLAS, the product is dsyrk_ and, from d = 96 on, the
//     eigenvectors come from LAPACK's dsyevr_ (nn.Float64Kernels), 1.1–4.8×
//     faster than the Go routines (BenchmarkExactPCAKernels), with the same result
//     to rounding; features that have not varied in any row seen are left out of
//     the eigendecomposition (their entries are exactly 0), which shrinks the
//     gridworld state's 204 columns to about 117.
//   - incremental (ipca.go): scikit-learn's IncrementalPCA as PEFT adapts it:
//     float64 running mean and population variance (Chan et al.), the previous
//     components scaled by their singular values stacked above the centred
//     minibatch and a mean-correction row, a full SVD (gonum's LAPACK dgesvd; or,
//     with svd: lowrank, the randomized SVD PEFT itself uses). It keeps only
//     round(r·rho) directions between minibatches, so it drifts from the batch PCA,
//     mostly in its trailing components. It stays for fidelity to PEFT.
//
// # Which rows carry the loss (Config.LabelMask)
//
// PEFT's use_label_mask keeps, in every layer, the rows of the token positions
// whose label is not ignored: the positions where the loss is read. A Decision
// Transformer reads its loss at the state tokens only (ln_f and the head run
// there), so label_mask: loss_tokens keeps the state-token rows of every layer.
// That is not the same as the rows whose outputs the loss depends on. A LoRA
// adapter's gradient, ∂L/∂B = Σ_rows (∂L/∂y)·(A·x)ᵀ, only sums rows whose output
// gradient ∂L/∂y is non-zero, so those are the rows whose input directions EVA
// should capture. Per layer of a causal DT (Model.LossRows in package policy
// computes them, and its test checks them against the gradients a backward pass
// actually delivers):
//
//   - the head, and attn.q, attn.o, mlp.fc and mlp.proj of the last block, act
//     position by position on the way to ln_f: only their state-token rows reach
//     the loss;
//   - attn.k and attn.v of the last block are read by every later query: a row
//     reaches the loss when a real state token at or after it attends to it, which
//     is every real token but the action after a window's last state;
//   - every layer of the earlier blocks feeds, at its own position, the keys and
//     values of the blocks above, so again every real token but that last action;
//     except attn.q at a window's first real token, which attends to its own key
//     alone: a softmax over one entry is constant, so that query gets no gradient.
//
// label_mask: loss_paths keeps exactly these rows. It differs from every real token
// (label_mask: none) mostly in the last block, and from loss_tokens everywhere but
// in the last block's attn.q, attn.o, mlp.fc and mlp.proj: elsewhere the return
// and action tokens feed the states through attention. Because the rows then differ, attn.q no longer shares the PCA of attn.k
// and attn.v under loss_paths. The masks need the model to report its rows: a
// LossRower (policy.Model is one).
//
// PEFT has no bound on the number of minibatches; here Config.MaxBatches stops the
// pass with an error that names the layers that did not converge, unless
// Config.AcceptUnconverged is set. Every random draw of the pass (the randomized
// SVD's test matrices) comes from Options.Seed.
//
// Conventions: activation rows are float32, row-major (n, d_in); PCA statistics are
// float64; every component is a row of length d_in.
package eva
