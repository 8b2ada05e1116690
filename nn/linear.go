package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Adapter is a trainable addition to a Linear layer's output, such as LoRA's
// scale·B·A·x. The layer calls it after its own product, so the adapter sees the same
// input rows and adds on top of x·Wᵀ + b. It lets package lora extend a layer without
// nn importing lora.
//
// Both methods work on n rows: x is (n, in), y and dy are (n, out), dx is (n, in).
type Adapter interface {
	// Forward adds the adapter's output for the rows x to y. It may keep what its
	// Backward needs (x itself stays valid until the matching Backward; the adapter
	// must not modify it).
	Forward(x, y []float32, n int)
	// Backward receives the gradient of the layer output dy, adds into its own
	// parameters' gradients (if trainable) and, when dx is non-nil, adds its
	// contribution to the input gradient dx. dx == nil means the caller needs no
	// input gradient.
	Backward(x, dy, dx []float32, n int)
}

// AdapterForker is implemented by adapters that can run on a second copy of their
// layer at the same time, such as the second of a model's data-parallel lanes (two
// sets of layers sharing their weights, each running half of a batch on its own
// goroutine). A model whose adapters all implement it keeps splitting batches across
// its lanes while they are attached; otherwise it runs on one lane.
type AdapterForker interface {
	Adapter
	// Fork returns an adapter for twin, a copy of the adapter's layer on another
	// lane. The fork computes what the receiver computes, from the receiver's
	// parameter values, but keeps its own saved state and adds its gradients into
	// the parameters param returns for the receiver's: param(p) shares p.Data and
	// has its own Grad (nil while p is frozen); the lane adds those into p.Grad
	// after Backward.
	Fork(twin *Linear, param func(*Param) *Param) AdapterFork
}

// AdapterFork is an adapter made by AdapterForker.Fork.
type AdapterFork interface {
	Adapter
	// Sync brings the fork in line with the adapter it was made from: settings that
	// may have changed (training mode, merged), and, when the fork will draw random
	// numbers (adapter dropout), a stream split off the original's, so that the
	// original's stream alone determines the draws of both lanes. The model calls
	// it before every forward pass that uses the fork, on one goroutine, while
	// neither adapter runs.
	Sync()
}

// Observer sees a Linear layer's input rows during Forward: EVA uses it to capture
// activations. x is (n, in) and belongs to the caller: the observer must copy what it
// keeps. mask has n entries, true for a real row and false for a padding row whose
// values carry no information; nil means every row is real.
type Observer interface {
	Observe(x []float32, n, in int, mask []bool)
}

// Linear is a fully connected layer, y = x·Wᵀ + b, with W stored (out, in) as in
// PyTorch so checkpoints and adapter shapes read the same in both.
//
// The layer owns no activation buffers: the caller passes x, y, dy and dx, which
// keeps it free to reuse one buffer across layers, and it keeps no state between
// calls. Large products are split by rows across the worker goroutines (see
// linear_parallel.go); hooks are called on the caller's goroutine. Adapter and
// Observer are nil unless a package such as lora or eva plugs in.
type Linear struct {
	Name    string
	In, Out int
	W       *Param // (Out, In), named Name+".weight"
	B       *Param // (Out), named Name+".bias"; nil when the layer has no bias
	// Gemm computes the products. Adapters may use it too, so a model runs on one backend.
	Gemm Gemm
	// Adapter, when non-nil, adds to the output in Forward and takes part in Backward.
	Adapter Adapter
	// Observer, when non-nil, is shown the input rows at every Forward.
	Observer Observer
}

// NewLinear allocates a zero-initialised layer whose parameters are named
// name+".weight" and name+".bias" (the latter only when bias is true).
func NewLinear(name string, in, out int, bias bool, g Gemm) *Linear {
	if g == nil {
		panic("nn: NewLinear " + name + ": nil Gemm")
	}
	l := &Linear{Name: name, In: in, Out: out, W: NewParam(name+".weight", out, in), Gemm: g}
	if bias {
		l.B = NewParam(name+".bias", out)
	}
	return l
}

// Params returns the layer's own parameters (not the adapter's): weight, then bias.
func (l *Linear) Params() []*Param {
	if l.B == nil {
		return []*Param{l.W}
	}
	return []*Param{l.W, l.B}
}

// InitUniform draws W and b from U(-1/√in, 1/√in), PyTorch's default nn.Linear
// initialisation (kaiming_uniform with a = √5 for W, the same bound for b).
func (l *Linear) InitUniform(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.In))
	for i := range l.W.Data {
		l.W.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
	if l.B != nil {
		for i := range l.B.Data {
			l.B.Data[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
}

// InitNormal draws W from N(0, std²) and zeroes b, GPT-2's initialisation (std 0.02).
func (l *Linear) InitNormal(rng *rand.Rand, std float64) {
	for i := range l.W.Data {
		l.W.Data[i] = float32(rng.NormFloat64() * std)
	}
	if l.B != nil {
		clear(l.B.Data)
	}
}

func (l *Linear) check(what string, buf []float32, n, width int) {
	if len(buf) < n*width {
		panic(fmt.Sprintf("nn: %s %s: len %d < %d rows × %d", l.Name, what, len(buf), n, width))
	}
}

// Forward computes y = x·Wᵀ + b for n rows (then the adapter's addition), overwriting
// y. x is (n, In), y is (n, Out) and must not overlap x; mask (n entries or nil) tells
// the observer which rows are padding, it does not change the result.
func (l *Linear) Forward(x, y []float32, n int, mask []bool) {
	l.check("x", x, n, l.In)
	l.check("y", y, n, l.Out)
	if mask != nil && len(mask) < n {
		panic(fmt.Sprintf("nn: %s mask: len %d < %d rows", l.Name, len(mask), n))
	}
	if l.Observer != nil {
		l.Observer.Observe(x[:n*l.In], n, l.In, mask)
	}
	beta := float32(0)
	if l.B != nil {
		for r := 0; r < n; r++ {
			copy(y[r*l.Out:(r+1)*l.Out], l.B.Data)
		}
		beta = 1
	}
	// y (n, Out) = x (n, In) · Wᵀ (In, Out)
	parallelSgemm(l.Gemm, false, true, n, l.Out, l.In, 1, x, l.In, l.W.Data, l.In, beta, y, l.Out)
	if l.Adapter != nil {
		l.Adapter.Forward(x, y, n)
	}
}

// Backward adds the gradients of the n rows into W.Grad and B.Grad (skipped for frozen
// parameters) and, when dx is non-nil, into dx (n, In). x must be the input Forward
// saw and dy (n, Out) the gradient of its output. Pass dx == nil when nothing below
// this layer needs a gradient.
func (l *Linear) Backward(x, dy, dx []float32, n int) {
	l.check("x", x, n, l.In)
	l.check("dy", dy, n, l.Out)
	if dx != nil {
		l.check("dx", dx, n, l.In)
		// dx (n, In) += dy (n, Out) · W (Out, In)
		parallelSgemm(l.Gemm, false, false, n, l.In, l.Out, 1, dy, l.Out, l.W.Data, l.In, 1, dx, l.In)
	}
	if l.W.Grad != nil {
		// dW (Out, In) += dyᵀ (Out, n) · x (n, In)
		parallelSgemm(l.Gemm, true, false, l.Out, l.In, n, 1, dy, l.Out, x, l.In, 1, l.W.Grad, l.In)
	}
	if l.B != nil && l.B.Grad != nil {
		// db (1, Out) += 1ᵀ (1, n) · dy (n, Out): the column sums, as one product.
		l.Gemm.Sgemm(false, false, 1, l.Out, n, 1, onesOf(n), n, dy, l.Out, 1, l.B.Grad, l.Out)
	}
	if l.Adapter != nil {
		l.Adapter.Backward(x, dy, dx, n)
	}
}

// NeedsGrad reports whether a gradient arriving at l's output is used: by l's own
// trainable parameters or by an adapter. A model uses it to skip the backward pass
// below the lowest layer that learns anything.
func (l *Linear) NeedsGrad() bool {
	return l.W.Grad != nil || (l.B != nil && l.B.Grad != nil) || l.Adapter != nil
}

// linearForwardNaive is the plain-loop twin of Linear.Forward without hooks:
// y (n, out) = x (n, in) · wᵀ + b, b may be nil. It is the reference the tests hold the
// Gemm path to.
func linearForwardNaive(x, w, b, y []float32, n, in, out int) {
	for r := 0; r < n; r++ {
		xr := x[r*in : (r+1)*in]
		for o := 0; o < out; o++ {
			wo := w[o*in : (o+1)*in]
			var s float32
			if b != nil {
				s = b[o]
			}
			for i, v := range xr {
				s += v * wo[i]
			}
			y[r*out+o] = s
		}
	}
}

// ones holds a read-only slice of ones, grown (replaced by a longer one) on demand
// and shared by every layer: column sums are products with it.
var ones struct {
	mu  sync.Mutex
	buf atomic.Pointer[[]float32]
}

// onesOf returns n ones. It allocates only when n is larger than ever before.
func onesOf(n int) []float32 {
	if p := ones.buf.Load(); p != nil && len(*p) >= n {
		return (*p)[:n]
	}
	ones.mu.Lock()
	defer ones.mu.Unlock()
	if p := ones.buf.Load(); p != nil && len(*p) >= n {
		return (*p)[:n]
	}
	b := make([]float32, max(n, 1024))
	for i := range b {
		b[i] = 1
	}
	ones.buf.Store(&b)
	return b[:n]
}
