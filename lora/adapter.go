package lora

import (
	"fmt"
	"math/rand/v2"

	"github.com/evarl/evarl/nn"
)

// Adapter is LoRA on one nn.Linear: it plugs into the layer's Adapter hook and adds
//
//	y += scale · (dropout(x) · Aᵀ) · Bᵀ
//
// to the layer's output, with A (R, In) and B (Out, R) its trainable parameters. The
// base weights stay frozen. With DoRA (Config.UseDoRA) it also has the magnitude M
// (Out) and computes, as PEFT's DoRA layer does,
//
//	y = x·Wᵀ + b + (g − 1)⊙(x_d·Wᵀ) + g⊙scale·(x_d·Aᵀ)·Bᵀ,   g = M / ‖W + scale·B·A‖_row
//
// with x_d = dropout(x); without dropout (or in evaluation) that is
// b + g⊙(x·(W + scale·B·A)ᵀ): each output row of the adapted weight rescaled to the
// learned magnitude. Dimension legend: n = rows (B·T tokens), In/Out = the base
// layer's widths, R = rank.
//
// The fields are set by Apply and Load and must not be changed.
type Adapter struct {
	// Layer is the base layer the adapter is attached to.
	Layer *nn.Linear
	// R is the rank, Alpha the alpha it was built with, Scale = alpha/r (or alpha/√r).
	R     int
	Alpha float64
	Scale float32
	// Dropout is the drop probability on the adapter's input in training mode.
	Dropout float64
	// A (R, In) named Layer.Name+".lora_A.weight"; B (Out, R) named ".lora_B.weight".
	A, B *nn.Param
	// M (Out) is DoRA's magnitude vector, named Layer.Name+".lora_magnitude_vector";
	// nil without DoRA.
	M *nn.Param

	lr     lowRank
	src    *rand.PCG // dropout stream (nil without dropout)
	rng    *rand.Rand
	parent *Adapter // for a fork (Fork): the adapter it follows (Sync)

	// saved by Forward for Backward
	n    int
	mask []float32 // (n, In) 0 or 1/(1−p); empty without dropout
	xd   []float32 // (n, In) dropout(x)
	h    []float32 // (n, R) dropout(x)·Aᵀ
	dh   []float32 // (n, R)
	tmp  []float32 // (n, In)
	u    []float32 // (n, Out) DoRA: x_d·Wᵀ + scale·h·Bᵀ
	z    []float32 // (n, Out) DoRA: x_d·Wᵀ
	dyg  []float32 // (n, Out) DoRA: g⊙dy, then (g − 1)⊙dy
}

var (
	_ nn.AdapterForker = (*Adapter)(nil)
	_ nn.TrainMode     = (*Adapter)(nil)
)

// newAdapter allocates a zero adapter of rank r for l (not attached).
func newAdapter(l *nn.Linear, r int, alpha, scale, dropout float64, dora bool, src *rand.PCG) *Adapter {
	a := &Adapter{
		Layer: l, R: r, Alpha: alpha, Scale: float32(scale), Dropout: dropout, src: src,
		A: nn.NewParam(l.Name+".lora_A.weight", r, l.In),
		B: nn.NewParam(l.Name+".lora_B.weight", l.Out, r),
	}
	if dora {
		a.M = nn.NewParam(l.Name+".lora_magnitude_vector", l.Out)
	}
	if src != nil {
		a.rng = rand.New(src)
	}
	a.lr = lowRank{name: l.Name, in: l.In, out: l.Out, r: r, alpha: alpha, scale: a.Scale, a: a.A, b: a.B, m: a.M, w: l.W, gemm: l.Gemm}
	return a
}

// Merged reports whether the adapter's product is folded into the base weight.
func (a *Adapter) Merged() bool { return a.lr.merged }

// SetTrain switches adapter dropout on (training) or off (evaluation). It
// implements nn.TrainMode, so policy.Model.SetTrain reaches it.
func (a *Adapter) SetTrain(on bool) { a.lr.training = on }

// SetEnabled switches the adapter on or off (PEFT's enable_adapter_layers /
// disable_adapter_layers). A disabled adapter leaves the layer computing the base
// model's output: it adds nothing, or for a pissa/olora adapter exactly the part
// scale·B₀A₀ its init took out of the base weight, and its parameters get no
// gradient. Disabling a merged adapter unmerges it first.
func (a *Adapter) SetEnabled(on bool) { a.lr.setEnabled(on) }

// Enabled reports whether the adapter takes part in Forward.
func (a *Adapter) Enabled() bool { return !a.lr.disabled }

// Fork implements nn.AdapterForker, so that a model keeps running its data-parallel
// lanes with adapters attached: the fork on twin (the other lane's copy of the layer)
// shares A, B and M through param and keeps its own saved state (and DoRA's norms).
func (a *Adapter) Fork(twin *nn.Linear, param func(*nn.Param) *nn.Param) nn.AdapterFork {
	f := &Adapter{Layer: twin, R: a.R, Alpha: a.Alpha, Scale: a.Scale, Dropout: a.Dropout,
		A: param(a.A), B: param(a.B), parent: a}
	if a.M != nil {
		f.M = param(a.M)
	}
	f.lr = a.lr
	f.lr.a, f.lr.b, f.lr.m, f.lr.w, f.lr.gemm = f.A, f.B, f.M, twin.W, twin.Gemm
	f.lr.premerge, f.lr.vn, f.lr.norm, f.lr.g = nil, nil, nil, nil
	if a.src != nil {
		f.src = rand.NewPCG(0, 0)
		f.rng = rand.New(f.src)
	}
	return f
}

// Sync implements nn.AdapterFork on a fork: it takes the original's switches
// (training mode, enabled, merged) and, when its dropout will draw, reseeds its
// stream from the original's, so that the original's stream (DropoutState) alone
// determines both lanes' masks.
func (a *Adapter) Sync() {
	p := a.parent
	if p == nil {
		return
	}
	a.lr.training, a.lr.disabled, a.lr.merged = p.lr.training, p.lr.disabled, p.lr.merged
	a.lr.a0, a.lr.b0 = p.lr.a0, p.lr.b0
	if a.src != nil && a.lr.training && a.Dropout > 0 && !a.lr.disabled && !a.lr.merged {
		a.src.Seed(p.rng.Uint64(), p.rng.Uint64())
	}
}

// Forward adds the adapter's output for the n rows of x to y (nn.Adapter); y holds
// x·Wᵀ + b. A merged adapter adds nothing: its product is already in the base
// weight.
func (a *Adapter) Forward(x, y []float32, n int) {
	lr := &a.lr
	if lr.merged {
		return
	}
	in, out, r := a.Layer.In, a.Layer.Out, a.R
	a.n = n
	a.h = grow(a.h, n*r)
	if lr.disabled {
		if lr.a0 != nil {
			// y (n, Out) += scale · (x · A₀ᵀ) · B₀ᵀ: the base output of a residual init
			lr.gemm.Sgemm(false, true, n, r, in, 1, x, in, lr.a0, in, 0, a.h, r)
			lr.gemm.Sgemm(false, true, n, out, r, a.Scale, a.h, r, lr.b0, r, 1, y, out)
		}
		return
	}
	src := x[:n*in]
	dropped := lr.training && a.Dropout > 0
	if dropped {
		a.mask = grow(a.mask, n*in)
		a.xd = grow(a.xd, n*in)
		keep := float32(1 / (1 - a.Dropout))
		for i, v := range src {
			m := float32(0)
			if a.rng.Float64() >= a.Dropout {
				m = keep
			}
			a.mask[i] = m
			a.xd[i] = v * m
		}
		src = a.xd
	} else {
		a.mask = a.mask[:0]
	}
	// h (n, R) = dropout(x) (n, In) · Aᵀ (In, R)
	lr.gemm.Sgemm(false, true, n, r, in, 1, src, in, a.A.Data, in, 0, a.h, r)
	if a.M == nil {
		// y (n, Out) += scale · h (n, R) · Bᵀ (R, Out)
		lr.gemm.Sgemm(false, true, n, out, r, a.Scale, a.h, r, a.B.Data, r, 1, y, out)
		return
	}
	// DoRA: u = l = scale·h·Bᵀ; z = x_d·Wᵀ, which is y − b when nothing was dropped.
	lr.doraNorms()
	a.u = grow(a.u, n*out)
	a.z = grow(a.z, n*out)
	lr.gemm.Sgemm(false, true, n, out, r, a.Scale, a.h, r, a.B.Data, r, 0, a.u, out)
	if dropped {
		// z (n, Out) = x_d (n, In) · Wᵀ (In, Out)
		lr.gemm.Sgemm(false, true, n, out, in, 1, src, in, a.Layer.W.Data, in, 0, a.z, out)
	} else {
		copy(a.z, y[:n*out])
		if b := a.Layer.B; b != nil {
			for i := 0; i < n; i++ {
				zr := a.z[i*out : (i+1)*out]
				for o, v := range b.Data {
					zr[o] -= v
				}
			}
		}
	}
	lr.doraOut(y, a.z, a.u, n)
}

// Backward adds the gradients of A, B and M (when trainable) and, when dx is
// non-nil, the adapter's share of the input gradient (nn.Adapter). It pairs with the
// most recent Forward. Training through a merged adapter is a programming error.
func (a *Adapter) Backward(x, dy, dx []float32, n int) {
	lr := &a.lr
	if lr.merged {
		panic("nn: lora adapter " + a.Layer.Name + ": backward while merged")
	}
	if n != a.n {
		panic(fmt.Sprintf("nn: lora adapter %s: backward over %d rows after a forward over %d", a.Layer.Name, n, a.n))
	}
	in, out, r := a.Layer.In, a.Layer.Out, a.R
	a.dh = grow(a.dh, n*r)
	if lr.disabled {
		if lr.a0 != nil && dx != nil {
			// dx (n, In) += (scale · dy · B₀) (n, R) · A₀ (R, In)
			lr.gemm.Sgemm(false, false, n, r, out, a.Scale, dy, out, lr.b0, r, 0, a.dh, r)
			lr.gemm.Sgemm(false, false, n, in, r, 1, a.dh, r, lr.a0, in, 1, dx, in)
		}
		return
	}
	src := x[:n*in]
	dropped := len(a.mask) > 0
	if dropped {
		src = a.xd
	}
	g := dy // the gradient reaching scale·h·Bᵀ
	if a.M != nil {
		a.dyg = grow(a.dyg, n*out)
		lr.doraGrad(dy, a.u, a.dyg, n)
		g = a.dyg
	}
	if a.B.Grad != nil {
		// dB (Out, R) += scale · gᵀ (Out, n) · h (n, R)
		lr.gemm.Sgemm(true, false, out, r, n, a.Scale, g, out, a.h, r, 1, a.B.Grad, r)
	}
	if a.A.Grad == nil && dx == nil {
		return
	}
	// dh (n, R) = scale · g (n, Out) · B (Out, R)
	lr.gemm.Sgemm(false, false, n, r, out, a.Scale, g, out, a.B.Data, r, 0, a.dh, r)
	if a.A.Grad != nil {
		// dA (R, In) += dhᵀ (R, n) · dropout(x) (n, In)
		lr.gemm.Sgemm(true, false, r, in, n, 1, a.dh, r, src, in, 1, a.A.Grad, in)
	}
	if dx == nil {
		return
	}
	if a.M != nil {
		// DoRA's (g − 1)⊙(x_d·Wᵀ) term: its input gradient is ((g − 1)⊙dy)·W.
		for i := 0; i < n; i++ {
			dr, gr := dy[i*out:(i+1)*out], a.dyg[i*out:(i+1)*out]
			for o, gg := range lr.g[:out] {
				gr[o] = (gg - 1) * dr[o]
			}
		}
	}
	if !dropped {
		// dx (n, In) += dh (n, R) · A (R, In)  [+ ((g − 1)⊙dy) (n, Out) · W (Out, In)]
		lr.gemm.Sgemm(false, false, n, in, r, 1, a.dh, r, a.A.Data, in, 1, dx, in)
		if a.M != nil {
			lr.gemm.Sgemm(false, false, n, in, out, 1, a.dyg, out, a.Layer.W.Data, in, 1, dx, in)
		}
		return
	}
	a.tmp = grow(a.tmp, n*in)
	lr.gemm.Sgemm(false, false, n, in, r, 1, a.dh, r, a.A.Data, in, 0, a.tmp, in)
	if a.M != nil {
		lr.gemm.Sgemm(false, false, n, in, out, 1, a.dyg, out, a.Layer.W.Data, in, 1, a.tmp, in)
	}
	for i, m := range a.mask[:n*in] {
		dx[i] += a.tmp[i] * m
	}
}

// Delta returns scale·B·A (Out, In), the low-rank change the adapter makes to the
// weight (with DoRA, the change of direction before the rows are rescaled to M).
func (a *Adapter) Delta() []float32 { return a.lr.delta() }

// Merge folds the adapter into the base weight, so inference costs nothing extra:
// W ← W + scale·B·A, or with DoRA W ← g⊙(W + scale·B·A) row by row. In safe mode
// (PEFT's safe_merge) the merged weight is checked first and a NaN or Inf leaves the
// layer untouched and returns an error. Merging a disabled adapter is an error.
func (a *Adapter) Merge(safe bool) error { return a.lr.merge(safe) }

// Unmerge puts back the base weight Merge replaced, bit for bit.
func (a *Adapter) Unmerge() error { return a.lr.unmerge() }
