// Package eva computes EVA (Explained Variance Adaptation; Paischer et al. 2024,
// arXiv 2410.07170) initialisations for LoRA adapters, following the reference
// implementation in Hugging Face PEFT (tuners/lora/eva.py, utils/incremental_pca.py).
//
// The pass, in the order the code runs it:
//
//  1. Capture (capture.go): an nn.Observer on every target layer copies the layer's
//     input rows during a forward pass of the base model (adapters off), dropping
//     padding rows: the Decision Transformer passes its per-step mask expanded to
//     its three tokens per step, so only real tokens are kept. Minibatches come from
//     a Forward callback: windows of a dataset or of rollouts of the pretrained
//     policy (source.go).
//  2. Sharing (pass.go): on the first minibatch, layers whose inputs are exactly
//     equal (attn.q, attn.k and attn.v read the same LayerNorm output) are grouped;
//     the first owns one PCA and the others use it.
//  3. Incremental PCA (ipca.go): per owner, scikit-learn's IncrementalPCA as PEFT
//     adapts it: float64 running mean and population variance (Chan et al.), the
//     previous components scaled by their singular values stacked above the centred
//     minibatch and a mean-correction row, a full SVD (gonum's LAPACK dgesvd; or,
//     with svd: lowrank, the randomized SVD PEFT itself uses), the sign convention that the largest-magnitude entry of each component is
//     positive. round(r·rho) components are kept; a minibatch with fewer rows is
//     skipped and counted.
//  4. Convergence: a component is converged when the cosine between its new and
//     previous estimate is ≥ tau; a layer when its first rank components are. Converged
//     layers stop updating (and resume if redistribution raises their rank).
//  5. Redistribution (ranks.go): the budget Σ r over all target layers goes to the
//     largest explained-variance ratios pooled across layers (ties by layer order,
//     then component order); within a shared group the owner takes the largest rank.
//  6. State (state.go): per layer the rank, components, singular values and ratios,
//     saved as safetensors with JSON metadata; Apply turns it into LoRA adapters:
//     lora_A = the first rank components (divided by √S with whiten), lora_B = 0, so
//     the adapted model starts exactly at the pretrained one; rank 0 means no adapter;
//     with adjust_scaling_factors alpha follows the rank so alpha/r is unchanged.
//
// PEFT has no bound on the number of minibatches; here Config.MaxBatches stops the
// pass with an error that names the layers that did not converge, unless
// Config.AcceptUnconverged is set.
//
// Conventions: activation rows are float32, row-major (n, d_in); PCA statistics are
// float64; every component is a row of length d_in.
package eva
