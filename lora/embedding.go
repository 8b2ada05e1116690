package lora

import (
	"fmt"

	"github.com/evarl/evarl/nn"
)

// EmbeddingAdapter is LoRA on one nn.Embedding, as PEFT's lora.Embedding: it plugs
// into the table's Adapter hook and adds to the looked-up row of id
//
//	y += scale · B · A[:, id]
//
// with A (R, N) and B (C, R) its trainable parameters, so the table changes by
// ΔW = scale·(B·A)ᵀ (N, C). Read as a linear map of the one-hot vector e_id, the
// table is V = Wᵀ (C, N) and the adapter is exactly a Linear adapter on V, which is
// how the init methods, DoRA and merging treat it. With DoRA the magnitude M (C) has
// one entry per channel, the norm runs over the N rows of each column of W + ΔW
// (PEFT's DoraEmbeddingLayer), and the output is g⊙(W + ΔW)[id], g = M / norm.
//
// As in PEFT there is no dropout on an embedding adapter (on a one-hot input it
// would drop whole tokens), and the parameters are named
// Layer.Name+".lora_embedding_A", ".lora_embedding_B" and ".lora_magnitude_vector"
// (no ".weight" suffix). Dimension legend: n = looked-up ids, N = table rows,
// C = channels, R = rank. The fields are set by Apply and Load and must not be
// changed.
type EmbeddingAdapter struct {
	// Layer is the base table the adapter is attached to.
	Layer *nn.Embedding
	// R is the rank, Alpha the alpha it was built with, Scale = alpha/r (or alpha/√r).
	R     int
	Alpha float64
	Scale float32
	// A (R, N) and B (C, R): PEFT's lora_embedding_A and lora_embedding_B.
	A, B *nn.Param
	// M (C) is DoRA's magnitude vector; nil without DoRA.
	M *nn.Param

	lr lowRank

	// saved by Forward for Backward
	n   int
	h   []float32 // (n, R) A[:, ids]
	dh  []float32 // (n, R)
	u   []float32 // (n, C) DoRA: W[ids] + scale·h·Bᵀ
	z   []float32 // (n, C) DoRA: W[ids]
	dyg []float32 // (n, C) DoRA: g⊙dy
}

var _ nn.EmbeddingAdapter = (*EmbeddingAdapter)(nil)

// newEmbeddingAdapter allocates a zero adapter of rank r for e (not attached).
func newEmbeddingAdapter(e *nn.Embedding, r int, alpha, scale float64, dora bool, g nn.Gemm) *EmbeddingAdapter {
	a := &EmbeddingAdapter{
		Layer: e, R: r, Alpha: alpha, Scale: float32(scale),
		A: nn.NewParam(e.Name+".lora_embedding_A", r, e.N),
		B: nn.NewParam(e.Name+".lora_embedding_B", e.C, r),
	}
	if dora {
		a.M = nn.NewParam(e.Name+".lora_magnitude_vector", e.C)
	}
	a.lr = lowRank{name: e.Name, in: e.N, out: e.C, r: r, alpha: alpha, scale: a.Scale, a: a.A, b: a.B, m: a.M, w: e.W, table: true, gemm: g}
	return a
}

// Merged reports whether the adapter is folded into the table.
func (a *EmbeddingAdapter) Merged() bool { return a.lr.merged }

// SetEnabled switches the adapter on or off, as Adapter.SetEnabled.
func (a *EmbeddingAdapter) SetEnabled(on bool) { a.lr.setEnabled(on) }

// Enabled reports whether the adapter takes part in Forward.
func (a *EmbeddingAdapter) Enabled() bool { return !a.lr.disabled }

// gather writes columns ids of f (R, N) into h (n, R).
func (a *EmbeddingAdapter) gather(f []float32, ids []int) {
	r, N := a.R, a.Layer.N
	for k, id := range ids {
		hk := a.h[k*r : (k+1)*r]
		for j := range hk {
			hk[j] = f[j*N+id]
		}
	}
}

// Forward adds the adapter's output for the ids to y (len(ids), C), which holds the
// looked-up rows (nn.EmbeddingAdapter). A merged adapter adds nothing.
func (a *EmbeddingAdapter) Forward(ids []int, y []float32) {
	lr := &a.lr
	if lr.merged {
		return
	}
	n, C, r := len(ids), a.Layer.C, a.R
	a.n = n
	a.h = grow(a.h, n*r)
	if lr.disabled {
		if lr.a0 != nil {
			// y (n, C) += scale · A₀[:, ids]ᵀ (n, R) · B₀ᵀ (R, C)
			a.gather(lr.a0, ids)
			lr.gemm.Sgemm(false, true, n, C, r, a.Scale, a.h, r, lr.b0, r, 1, y, C)
		}
		return
	}
	a.gather(a.A.Data, ids)
	if a.M == nil {
		// y (n, C) += scale · h (n, R) · Bᵀ (R, C)
		lr.gemm.Sgemm(false, true, n, C, r, a.Scale, a.h, r, a.B.Data, r, 1, y, C)
		return
	}
	lr.doraNorms()
	a.u = grow(a.u, n*C)
	a.z = grow(a.z, n*C)
	lr.gemm.Sgemm(false, true, n, C, r, a.Scale, a.h, r, a.B.Data, r, 0, a.u, C)
	copy(a.z, y[:n*C])
	lr.doraOut(y, a.z, a.u, n)
}

// Backward adds the gradients of A, B and M (when trainable) for the ids of the
// most recent Forward (nn.EmbeddingAdapter). A looked-up id has no input gradient.
func (a *EmbeddingAdapter) Backward(ids []int, dy []float32) {
	lr := &a.lr
	if lr.merged {
		panic("nn: lora adapter " + a.Layer.Name + ": backward while merged")
	}
	n, C, r, N := len(ids), a.Layer.C, a.R, a.Layer.N
	if n != a.n {
		panic(fmt.Sprintf("nn: lora adapter %s: backward over %d ids after a forward over %d", a.Layer.Name, n, a.n))
	}
	if lr.disabled {
		return
	}
	g := dy
	if a.M != nil {
		a.dyg = grow(a.dyg, n*C)
		lr.doraGrad(dy, a.u, a.dyg, n)
		g = a.dyg
	}
	if a.B.Grad != nil {
		// dB (C, R) += scale · gᵀ (C, n) · h (n, R)
		lr.gemm.Sgemm(true, false, C, r, n, a.Scale, g, C, a.h, r, 1, a.B.Grad, r)
	}
	if a.A.Grad == nil {
		return
	}
	a.dh = grow(a.dh, n*r)
	// dh (n, R) = scale · g (n, C) · B (C, R); then column ids[k] of dA gets row k.
	lr.gemm.Sgemm(false, false, n, r, C, a.Scale, g, C, a.B.Data, r, 0, a.dh, r)
	for k, id := range ids {
		for j, v := range a.dh[k*r : (k+1)*r] {
			a.A.Grad[j*N+id] += v
		}
	}
}

// Merge folds the adapter into the table: W ← W + scale·(B·A)ᵀ, or with DoRA every
// channel (column) of W + ΔW rescaled to its magnitude. Safe mode and errors as
// Adapter.Merge.
func (a *EmbeddingAdapter) Merge(safe bool) error { return a.lr.merge(safe) }

// Unmerge puts back the table Merge replaced, bit for bit.
func (a *EmbeddingAdapter) Unmerge() error { return a.lr.unmerge() }
