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
// SetTrain passes its mode on to it. An Adapter that can run on a second copy of its
// layer at the same time (a model's data-parallel lane) implements AdapterForker.
//
// Matrix products go through Gemm (gemm.go). DefaultGemm picks OpenBLAS, loaded at
// run time with purego so that the default build needs no cgo, when the machine has
// libopenblas, and gonum's pure-Go blas32 otherwise; products below SmallGemmMACs
// multiply-adds go to gonum either way, where a foreign call costs more than the
// work. The environment variable EVARL_BLAS=auto|openblas|gonum forces a choice, and
// the build tag noopenblas gives a fully static binary with gonum only. Large
// products and attention's (batch, head) pairs are split across a fixed pool of
// goroutines (linear_parallel.go), always into the same blocks so that results do
// not depend on the number of cores; OpenBLAS itself runs one thread per call. So
// are long elementwise kernels (LayerNorm rows, dropout, GELU, AdamW), whose
// elements come out the same wherever they run. A caller that keeps a core busy on
// its own (a model's lane) says so with OccupyCore, and while every core is
// occupied the kernels run their shares on the caller.
//
// Vector kernels: on x86-64 with AVX2 and FMA, GELU, the softmax's exponentials,
// LayerNorm rows, dropout and AdamW run eight lanes at a time in assembly
// (asm_amd64.s), each with its plain-Go twin that runs elsewhere and under the build
// tag noasm. Dropout and AdamW are bit-identical to their twins; the others may
// differ from them in the last bits (fused multiply-adds), as OpenBLAS and gonum do.
// Dropout masks are counter-based (a hash of the element's index and a seed drawn
// per Forward), so they are independent of the split and regenerated in Backward.
package nn
