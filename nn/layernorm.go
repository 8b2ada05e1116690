package nn

import (
	"fmt"
	"math"
)

// LayerNorm normalises each row of C channels to zero mean and unit variance, then
// scales and shifts it: y = (x − mean)/√(var + Eps) · W + B (Ba et al. 2016; the
// biased variance, as PyTorch's nn.LayerNorm).
//
// Forward keeps each row's mean and 1/σ for Backward, in buffers grown on first use
// and reused after, so the layer allocates only when it sees more rows than before.
// Rows are independent, so long inputs are split across the worker goroutines, and
// so is Backward when the gain and shift are frozen (with trainable ones, their
// gradients sum over the rows in one fixed order).
type LayerNorm struct {
	Name string
	C    int
	Eps  float32
	W    *Param // (C) gain, Name+".weight", initialised to 1
	B    *Param // (C) shift, Name+".bias", initialised to 0

	mean, rstd []float32 // (n) saved by Forward

	// The call in progress, for runRange.
	backward     bool
	x, y, dy, dx []float32
}

// NewLayerNorm returns the identity-initialised layer with PyTorch's Eps = 1e-5.
func NewLayerNorm(name string, c int) *LayerNorm {
	ln := &LayerNorm{Name: name, C: c, Eps: 1e-5, W: NewParam(name+".weight", c), B: NewParam(name+".bias", c)}
	for i := range ln.W.Data {
		ln.W.Data[i] = 1
	}
	return ln
}

// Params returns the gain and the shift.
func (ln *LayerNorm) Params() []*Param { return []*Param{ln.W, ln.B} }

// Trainable reports whether the gain or the shift receives gradients.
func (ln *LayerNorm) Trainable() bool { return ln.W.Trainable() || ln.B.Trainable() }

// Forward normalises n rows: x and y are (n, C); y is overwritten and may not alias x.
func (ln *LayerNorm) Forward(x, y []float32, n int) {
	c := ln.C
	if len(x) < n*c || len(y) < n*c {
		panic(fmt.Sprintf("nn: %s: len(x)=%d len(y)=%d, want ≥ %d×%d", ln.Name, len(x), len(y), n, c))
	}
	ln.mean = grow(ln.mean, n)
	ln.rstd = grow(ln.rstd, n)
	ln.backward, ln.x, ln.y = false, x, y
	ln.runRows(n)
}

// Backward adds the gradients of n rows into W.Grad, B.Grad (when trainable) and dx
// (when non-nil). x is the input Forward saw, dy (n, C) the gradient of its output.
func (ln *LayerNorm) Backward(x, dy, dx []float32, n int) {
	c := ln.C
	if len(ln.mean) < n {
		panic("nn: " + ln.Name + ": Backward over more rows than Forward saw")
	}
	if len(x) < n*c || len(dy) < n*c || (dx != nil && len(dx) < n*c) {
		panic(fmt.Sprintf("nn: %s: len(x)=%d len(dy)=%d len(dx)=%d, want ≥ %d×%d", ln.Name, len(x), len(dy), len(dx), n, c))
	}
	dw, db := ln.W.Grad, ln.B.Grad
	if dw == nil && db == nil && dx == nil {
		return
	}
	ln.backward, ln.x, ln.dy, ln.dx = true, x, dy, dx
	if dw != nil || db != nil {
		ln.runRange(0, n) // one summation order for the parameter gradients
		ln.x, ln.dy, ln.dx = nil, nil, nil
		return
	}
	ln.runRows(n)
}

// runRows runs the call in progress over n rows, split across the workers when
// they are many.
func (ln *LayerNorm) runRows(n int) {
	if n*ln.C >= ParallelMinElems {
		parallelRange(ln, n)
	} else {
		ln.runRange(0, n)
	}
	ln.x, ln.y, ln.dy, ln.dx = nil, nil, nil, nil // the caller's slices are not kept
}

// runRange implements rangeRunner: the call in progress for rows [lo, hi).
func (ln *LayerNorm) runRange(lo, hi int) {
	c := ln.C
	w, b := ln.W.Data[:c], ln.B.Data[:c]
	for r := lo; r < hi; r++ {
		xr := ln.x[r*c : (r+1)*c]
		if !ln.backward {
			ln.mean[r], ln.rstd[r] = layerNormRow(xr, ln.y[r*c:(r+1)*c], w, b, ln.Eps)
			continue
		}
		var dxr []float32
		if ln.dx != nil {
			dxr = ln.dx[r*c : (r+1)*c]
		}
		layerNormRowBackward(xr, ln.dy[r*c:(r+1)*c], dxr, w, ln.W.Grad, ln.B.Grad, ln.mean[r], ln.rstd[r])
	}
}

// layerNormRow normalises one row x into y and returns its mean and 1/σ, on the
// vector unit for widths that are a multiple of 8. The Go loop's sums run in four
// interleaved partial sums (a single running sum waits on the latency of every
// addition), combined at the end.
func layerNormRow(x, y, w, b []float32, eps float32) (mean, rstd float32) {
	if m, rs, ok := layerNormRowVec(x, y, w, b, eps); ok {
		return m, rs
	}
	return layerNormRowGo(x, y, w, b, eps)
}

// layerNormRowGo is the plain-Go loop of layerNormRow (the vector kernel's twin).
func layerNormRowGo(x, y, w, b []float32, eps float32) (mean, rstd float32) {
	c := len(x)
	y, w, b = y[:c], w[:c], b[:c]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= c; i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < c; i++ {
		s0 += x[i]
	}
	m := ((s0 + s1) + (s2 + s3)) / float32(c)
	s0, s1, s2, s3 = 0, 0, 0, 0
	i = 0
	for ; i+4 <= c; i += 4 {
		d0, d1, d2, d3 := x[i]-m, x[i+1]-m, x[i+2]-m, x[i+3]-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < c; i++ {
		d := x[i] - m
		s0 += d * d
	}
	v := ((s0 + s1) + (s2 + s3)) / float32(c)
	rs := float32(1 / math.Sqrt(float64(v+eps)))
	for i, xv := range x {
		y[i] = (xv-m)*rs*w[i] + b[i]
	}
	return m, rs
}

// layerNormRowBackward adds one row's gradients into dw, db and dx (each may be nil).
func layerNormRowBackward(x, dy, dx, w, dw, db []float32, m, rs float32) {
	if !layerNormRowBackwardVec(x, dy, dx, w, dw, db, m, rs) {
		layerNormRowBackwardGo(x, dy, dx, w, dw, db, m, rs)
	}
}

// layerNormRowBackwardGo is the plain-Go loop of layerNormRowBackward (the vector
// kernel's twin).
func layerNormRowBackwardGo(x, dy, dx, w, dw, db []float32, m, rs float32) {
	c := len(x)
	dy, w = dy[:c], w[:c]
	// The two means the input gradient needs: of dnorm and of dnorm·norm.
	var a0, a1, b0, b1 float32
	i := 0
	for ; i+2 <= c; i += 2 {
		n0, n1 := (x[i]-m)*rs, (x[i+1]-m)*rs
		g0, g1 := w[i]*dy[i], w[i+1]*dy[i+1]
		a0 += g0
		a1 += g1
		b0 += g0 * n0
		b1 += g1 * n1
	}
	for ; i < c; i++ {
		g := w[i] * dy[i]
		a0 += g
		b0 += g * (x[i] - m) * rs
	}
	if dw != nil {
		dw = dw[:c]
		for i, xv := range x {
			dw[i] += (xv - m) * rs * dy[i]
		}
	}
	if db != nil {
		db = db[:c]
		for i, g := range dy {
			db[i] += g
		}
	}
	if dx == nil {
		return
	}
	dnMean := (a0 + a1) / float32(c)
	dnNormMean := (b0 + b1) / float32(c)
	dx = dx[:c]
	for i, xv := range x {
		norm := (xv - m) * rs
		dx[i] += (w[i]*dy[i] - dnMean - norm*dnNormMean) * rs
	}
}

// layerNormNaive is the plain-loop twin of Forward and Backward over n rows (the
// textbook formulas, one running sum each), which the tests hold the kernels to.
func layerNormNaive(x, y, dy, dx, w, b, dw, db []float32, n, c int, eps float32) {
	for r := 0; r < n; r++ {
		xr := x[r*c : (r+1)*c]
		var m, v float64
		for _, xv := range xr {
			m += float64(xv)
		}
		m /= float64(c)
		for _, xv := range xr {
			v += (float64(xv) - m) * (float64(xv) - m)
		}
		v /= float64(c)
		rs := 1 / math.Sqrt(v+float64(eps))
		var dn, dnn float64
		for i, xv := range xr {
			norm := (float64(xv) - m) * rs
			y[r*c+i] = float32(norm*float64(w[i]) + float64(b[i]))
			g := float64(w[i]) * float64(dy[r*c+i])
			dn += g
			dnn += g * norm
			dw[i] += float32(norm * float64(dy[r*c+i]))
			db[i] += dy[r*c+i]
		}
		dn /= float64(c)
		dnn /= float64(c)
		for i, xv := range xr {
			norm := (float64(xv) - m) * rs
			dx[r*c+i] += float32((float64(w[i])*float64(dy[r*c+i]) - dn - norm*dnn) * rs)
		}
	}
}

// grow returns buf resliced to n elements, reallocating only when its capacity is
// smaller: the one place layers allocate their saved state. A reallocation at least
// doubles the capacity, so that sizes that vary from call to call (acting on packed
// sequences) settle after a few calls instead of reallocating at every new maximum.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n, max(n, 2*cap(buf)))
	}
	return buf[:n]
}
