// Package nn is evarl's compute core: float32 buffers, layer kernels with a forward
// and a backward each, AdamW with schedules and gradient clipping, and the sgemm
// backend they all stand on.
//
// Conventions, as in llm.c:
//   - Tensors are row-major float32 slices with the shape in the comment beside them;
//     activations are (B, T, C): B = batch, T = time (tokens), C = channels.
//   - Every layer is a pair of functions or methods: Forward computes outputs and
//     keeps what Backward needs; Backward *adds* into gradient buffers (callers zero
//     them once per step), so a parameter used twice accumulates both contributions.
//   - Buffers are allocated once per shape and reused: after the first step, a
//     training step allocates nothing.
//   - Shape mismatches are programming errors and panic with "nn: …"; user input
//     (files, configs) is validated higher up and returns errors.
//
// Parameters (Param) are addressable by name ("blocks.0.attn.q.weight"), and are
// trainable or frozen: a frozen parameter has no gradient buffer and no optimizer
// state.
//
// Matrix products go through Gemm (see gemm.go): OpenBLAS loaded at run time when the
// machine has it, gonum's pure-Go blas32 otherwise.
package nn
