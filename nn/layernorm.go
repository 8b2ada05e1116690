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
type LayerNorm struct {
	Name string
	C    int
	Eps  float32
	W    *Param // (C) gain, Name+".weight", initialised to 1
	B    *Param // (C) shift, Name+".bias", initialised to 0

	mean, rstd []float32 // (n) saved by Forward
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

// Forward normalises n rows: x and y are (n, C); y is overwritten and may not alias x.
func (ln *LayerNorm) Forward(x, y []float32, n int) {
	c := ln.C
	if len(x) < n*c || len(y) < n*c {
		panic(fmt.Sprintf("nn: %s: len(x)=%d len(y)=%d, want ≥ %d×%d", ln.Name, len(x), len(y), n, c))
	}
	ln.mean = grow(ln.mean, n)
	ln.rstd = grow(ln.rstd, n)
	w, b := ln.W.Data[:c], ln.B.Data[:c]
	for r := 0; r < n; r++ {
		xr := x[r*c : (r+1)*c]
		var m float32
		for _, v := range xr {
			m += v
		}
		m /= float32(c)
		var s float32
		for _, v := range xr {
			d := v - m
			s += d * d
		}
		rs := float32(1 / math.Sqrt(float64(s/float32(c)+ln.Eps)))
		yr := y[r*c : (r+1)*c]
		for i, v := range xr {
			yr[i] = (v-m)*rs*w[i] + b[i]
		}
		ln.mean[r], ln.rstd[r] = m, rs
	}
}

// Trainable reports whether the gain or the shift receives gradients.
func (ln *LayerNorm) Trainable() bool { return ln.W.Trainable() || ln.B.Trainable() }

// Backward adds the gradients of n rows into W.Grad, B.Grad (when trainable) and dx
// (when non-nil). x is the input Forward saw, dy (n, C) the gradient of its output.
func (ln *LayerNorm) Backward(x, dy, dx []float32, n int) {
	c := ln.C
	if len(ln.mean) < n {
		panic("nn: " + ln.Name + ": Backward over more rows than Forward saw")
	}
	w := ln.W.Data[:c]
	dw, db := ln.W.Grad, ln.B.Grad
	if dw == nil && db == nil && dx == nil {
		return
	}
	for r := 0; r < n; r++ {
		xr, dyr := x[r*c:(r+1)*c], dy[r*c:(r+1)*c]
		m, rs := ln.mean[r], ln.rstd[r]
		// The two means the input gradient needs: of dnorm and of dnorm·norm.
		var dnMean, dnNormMean float32
		for i, v := range xr {
			norm := (v - m) * rs
			dn := w[i] * dyr[i]
			dnMean += dn
			dnNormMean += dn * norm
			if dw != nil {
				dw[i] += norm * dyr[i]
			}
			if db != nil {
				db[i] += dyr[i]
			}
		}
		if dx == nil {
			continue
		}
		dnMean /= float32(c)
		dnNormMean /= float32(c)
		dxr := dx[r*c : (r+1)*c]
		for i, v := range xr {
			norm := (v - m) * rs
			dxr[i] += (w[i]*dyr[i] - dnMean - norm*dnNormMean) * rs
		}
	}
}

// grow returns buf resliced to n elements, reallocating only when its capacity is
// smaller: the one place layers allocate their saved state.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}
