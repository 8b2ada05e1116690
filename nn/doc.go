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
//     A frozen parameter gets no gradient, and a nil dx skips the input gradient.
//   - Buffers are allocated once per shape and reused: after the first step, a
//     training step allocates nothing (on the OpenBLAS path; gonum's parallel sgemm
//     allocates inside large products).
//   - Shape mismatches are programming errors and panic with "nn: …"; user input
//     (files, configs) is validated higher up and returns errors.
//   - Each optimised kernel keeps a plain-loop twin (linearForwardNaive, …) that
//     its tests compare against; every backward is checked against gorgonia's
//     autodiff in float64.
//
// Parameters (Param) are addressable by name ("blocks.0.attn.q.weight"), and are
// trainable or frozen: a frozen parameter has no gradient buffer and no optimizer
// state.
//
// Hooks: Linear and Embedding layers have two optional hook points each, so that
// packages above nn can change them without nn importing them. An Adapter adds to a
// Linear layer's output in Forward and to the input gradient in Backward, an
// EmbeddingAdapter adds to the looked-up rows (package lora's adapters); an Observer
// sees a Linear layer's input rows, an IDObserver an Embedding's ids, with their
// padding mask (package eva's activation capture). A hook that behaves differently
// in training and evaluation (adapter dropout) implements TrainMode, and a model's
// SetTrain passes its mode on to it.
//
// Matrix products go through Gemm (gemm.go). DefaultGemm picks OpenBLAS, loaded at
// run time with purego so that the default build needs no cgo, when the machine has
// libopenblas, and gonum's pure-Go blas32 otherwise; products below SmallGemmMACs
// multiply-adds go to gonum either way, where a foreign call costs more than the
// work. The environment variable EVARL_BLAS=auto|openblas|gonum forces a choice, and
// the build tag noopenblas gives a fully static binary with gonum only. Large
// products and attention's (batch, head) pairs are split across a fixed pool of
// goroutines (linear_parallel.go), always into the same blocks so that results do
// not depend on the number of cores; OpenBLAS itself runs one thread per call.
package nn
