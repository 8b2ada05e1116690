package lora

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evarl/evarl/nn"
)

// Adapter is LoRA on one nn.Linear: it plugs into the layer's Adapter hook and adds
//
//	y += scale · (dropout(x) · Aᵀ) · Bᵀ
//
// to the layer's output, with A (R, In) and B (Out, R) its trainable parameters. The
// base weights stay frozen. Dimension legend: n = rows (B·T tokens), In/Out = the
// base layer's widths, R = rank.
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

	training bool
	merged   bool
	rng      *rand.Rand

	// saved by Forward for Backward
	n    int
	mask []float32 // (n, In) 0 or 1/(1−p); nil without dropout
	xd   []float32 // (n, In) dropout(x)
	h    []float32 // (n, R) dropout(x)·Aᵀ
	dh   []float32 // (n, R)
	tmp  []float32 // (n, In)
}

var _ nn.Adapter = (*Adapter)(nil)

// newAdapter allocates a zero adapter of rank r for l (not attached).
func newAdapter(l *nn.Linear, r int, alpha, scale, dropout float64, rng *rand.Rand) *Adapter {
	return &Adapter{
		Layer: l, R: r, Alpha: alpha, Scale: float32(scale), Dropout: dropout, rng: rng,
		A: nn.NewParam(l.Name+".lora_A.weight", r, l.In),
		B: nn.NewParam(l.Name+".lora_B.weight", l.Out, r),
	}
}

// Merged reports whether the adapter's product is folded into the base weight.
func (a *Adapter) Merged() bool { return a.merged }

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// Forward adds scale·B·A·dropout(x) for the n rows of x to y (nn.Adapter). A merged
// adapter adds nothing: its product is already in the base weight.
func (a *Adapter) Forward(x, y []float32, n int) {
	if a.merged {
		return
	}
	in, out, r := a.Layer.In, a.Layer.Out, a.R
	a.n = n
	src := x[:n*in]
	if a.training && a.Dropout > 0 {
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
	a.h = grow(a.h, n*r)
	// h (n, R) = dropout(x) (n, In) · Aᵀ (In, R)
	a.Layer.Gemm.Sgemm(false, true, n, r, in, 1, src, in, a.A.Data, in, 0, a.h, r)
	// y (n, Out) += scale · h (n, R) · Bᵀ (R, Out)
	a.Layer.Gemm.Sgemm(false, true, n, out, r, a.Scale, a.h, r, a.B.Data, r, 1, y, out)
}

// Backward adds the gradients of A and B (when trainable) and, when dx is non-nil,
// the adapter's share of the input gradient (nn.Adapter). It pairs with the most
// recent Forward. Training through a merged adapter is a programming error.
func (a *Adapter) Backward(x, dy, dx []float32, n int) {
	if a.merged {
		panic("nn: lora adapter " + a.Layer.Name + ": backward while merged")
	}
	if n != a.n {
		panic(fmt.Sprintf("nn: lora adapter %s: backward over %d rows after a forward over %d", a.Layer.Name, n, a.n))
	}
	in, out, r := a.Layer.In, a.Layer.Out, a.R
	src := x[:n*in]
	dropped := len(a.mask) > 0
	if dropped {
		src = a.xd
	}
	if a.B.Grad != nil {
		// dB (Out, R) += scale · dyᵀ (Out, n) · h (n, R)
		a.Layer.Gemm.Sgemm(true, false, out, r, n, a.Scale, dy, out, a.h, r, 1, a.B.Grad, r)
	}
	if a.A.Grad == nil && dx == nil {
		return
	}
	a.dh = grow(a.dh, n*r)
	// dh (n, R) = scale · dy (n, Out) · B (Out, R)
	a.Layer.Gemm.Sgemm(false, false, n, r, out, a.Scale, dy, out, a.B.Data, r, 0, a.dh, r)
	if a.A.Grad != nil {
		// dA (R, In) += dhᵀ (R, n) · dropout(x) (n, In)
		a.Layer.Gemm.Sgemm(true, false, r, in, n, 1, a.dh, r, src, in, 1, a.A.Grad, in)
	}
	if dx == nil {
		return
	}
	if !dropped {
		// dx (n, In) += dh (n, R) · A (R, In)
		a.Layer.Gemm.Sgemm(false, false, n, in, r, 1, a.dh, r, a.A.Data, in, 1, dx, in)
		return
	}
	a.tmp = grow(a.tmp, n*in)
	a.Layer.Gemm.Sgemm(false, false, n, in, r, 1, a.dh, r, a.A.Data, in, 0, a.tmp, in)
	for i, m := range a.mask[:n*in] {
		dx[i] += a.tmp[i] * m
	}
}

// Delta returns scale·B·A (Out, In), the change the adapter makes to the weight.
func (a *Adapter) Delta() []float32 {
	in, out := a.Layer.In, a.Layer.Out
	d := make([]float32, out*in)
	// delta (Out, In) = scale · B (Out, R) · A (R, In)
	a.Layer.Gemm.Sgemm(false, false, out, in, a.R, a.Scale, a.B.Data, a.R, a.A.Data, in, 0, d, in)
	return d
}

// Merge folds scale·B·A into the base weight, so inference costs nothing extra. In
// safe mode (PEFT's safe_merge) the merged weight is checked first and a NaN or Inf
// leaves the layer untouched and returns an error.
func (a *Adapter) Merge(safe bool) error {
	if a.merged {
		return fmt.Errorf("lora: %s: already merged", a.Layer.Name)
	}
	d := a.Delta()
	w := a.Layer.W.Data
	if safe {
		for i, v := range d {
			s := w[i] + v
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				return fmt.Errorf("lora: %s: merging would put %v into weight[%d, %d]; adapter left unmerged", a.Layer.Name, s, i/a.Layer.In, i%a.Layer.In)
			}
		}
	}
	for i, v := range d {
		w[i] += v
	}
	a.merged = true
	return nil
}

// Unmerge subtracts scale·B·A from the base weight again (exact up to float32
// rounding of the add and subtract).
func (a *Adapter) Unmerge() error {
	if !a.merged {
		return fmt.Errorf("lora: %s: not merged", a.Layer.Name)
	}
	d := a.Delta()
	w := a.Layer.W.Data
	for i, v := range d {
		w[i] -= v
	}
	a.merged = false
	return nil
}
