package lora

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/nn"
)

// lowRank is what both adapter kinds share: the factors A (r, in) and B (out, r) of
// the low-rank change scale·B·A to a base map with weight V (out, in), DoRA's
// magnitude m (out), and the adapter's switches. For a Linear layer V is its weight
// W (out, in). For an embedding table W (N, C), V is the transposed table (C, N):
// looking up id multiplies V by the one-hot vector e_id, so in = N and out = C, and
// the init methods, DoRA's norms and merging work on V alike for both kinds.
type lowRank struct {
	name       string
	in, out, r int
	alpha      float64
	scale      float32
	a, b, m    *nn.Param // m is nil without DoRA
	w          *nn.Param // the base weight: V, or Vᵀ for a table
	table      bool
	gemm       nn.Gemm

	training, disabled, merged bool
	// a0, b0 are the initial A and B of a residual init (pissa, olora), whose base
	// weight holds V − scale·B₀A₀; nil otherwise.
	a0, b0 []float32
	// premerge is the base weight before Merge, which Unmerge puts back bit for bit.
	premerge []float32

	// DoRA, refreshed by every forward.
	vn   []float32 // (out, in) V + scale·B·A
	norm []float32 // (out) ‖V + scale·B·A‖ per output row (PEFT's weight_norm), treated as a constant in backward
	g    []float32 // (out) m / norm
}

// loadV writes V (out, in) into dst.
func (lr *lowRank) loadV(dst []float32) {
	w := lr.w.Data
	if !lr.table {
		copy(dst, w)
		return
	}
	for i := 0; i < lr.in; i++ { // table row i = column i of V
		for o := 0; o < lr.out; o++ {
			dst[o*lr.in+i] = w[i*lr.out+o]
		}
	}
}

// storeV overwrites the base weight with V = src (out, in).
func (lr *lowRank) storeV(src []float32) {
	w := lr.w.Data
	if !lr.table {
		copy(w, src)
		return
	}
	for i := 0; i < lr.in; i++ {
		for o := 0; o < lr.out; o++ {
			w[i*lr.out+o] = src[o*lr.in+i]
		}
	}
}

// addProduct sets dst (out, in) = beta·dst + scale·b·a for factors b (out, r), a (r, in).
func (lr *lowRank) addProduct(dst, a, b []float32, beta float32) {
	// dst (out, in) = scale · b (out, r) · a (r, in) + beta · dst
	lr.gemm.Sgemm(false, false, lr.out, lr.in, lr.r, lr.scale, b, lr.r, a, lr.in, beta, dst, lr.in)
}

// delta returns scale·B·A (out, in).
func (lr *lowRank) delta() []float32 {
	d := make([]float32, lr.out*lr.in)
	lr.addProduct(d, lr.a.Data, lr.b.Data, 0)
	return d
}

// addToV adds sign·scale·b·a to the base weight.
func (lr *lowRank) addToV(a, b []float32, sign float32) {
	v := make([]float32, lr.out*lr.in)
	lr.loadV(v)
	d := make([]float32, lr.out*lr.in)
	lr.addProduct(d, a, b, 0)
	for i := range v {
		v[i] += sign * d[i]
	}
	lr.storeV(v)
}

// keepResidual records the current A and B as the residual init's A₀, B₀ and sets
// V ← V − scale·B₀A₀, so that the adapted layer still computes V at the start.
func (lr *lowRank) keepResidual() {
	lr.a0 = append([]float32(nil), lr.a.Data...)
	lr.b0 = append([]float32(nil), lr.b.Data...)
	lr.addToV(lr.a0, lr.b0, -1)
}

// undoResidual puts scale·B₀A₀ back into the base weight (rollback of a failed Apply).
func (lr *lowRank) undoResidual() {
	if lr.a0 != nil {
		lr.addToV(lr.a0, lr.b0, 1)
	}
}

// doraNorms computes vn = V + scale·B·A, its row norms and g = m / norm (PEFT's
// get_weight_norm and mag_norm_scale). The norm is recomputed from the current
// factors at every forward and, as in PEFT and the DoRA paper's section 4.3, gets
// no gradient: backward treats it as a constant.
func (lr *lowRank) doraNorms() {
	n := lr.out * lr.in
	if cap(lr.vn) < n {
		lr.vn = make([]float32, n)
		lr.norm = make([]float32, lr.out)
		lr.g = make([]float32, lr.out)
	}
	lr.vn = lr.vn[:n]
	lr.loadV(lr.vn)
	lr.addProduct(lr.vn, lr.a.Data, lr.b.Data, 1)
	for o := 0; o < lr.out; o++ {
		var s float64
		for _, v := range lr.vn[o*lr.in : (o+1)*lr.in] {
			s += float64(v) * float64(v)
		}
		lr.norm[o] = float32(math.Sqrt(s))
		if lr.m != nil {
			lr.g[o] = lr.m.Data[o] / lr.norm[o]
		}
	}
}

// initMagnitude sets DoRA's m to ‖V + scale·B·A‖ per row, so g = 1 and the adapted
// layer starts at what the (residual-adjusted) base computes (PEFT's
// DoraLinearLayer.update_layer).
func (lr *lowRank) initMagnitude() {
	lr.doraNorms()
	copy(lr.m.Data, lr.norm)
	for o := range lr.g {
		lr.g[o] = 1
	}
}

// doraOut finishes DoRA's forward for n rows: given l = scale·(x·Aᵀ)·Bᵀ in u and the
// base product z = x·Vᵀ (of the same, possibly dropped-out, input), it keeps
// u = z + l for backward and adds (g − 1)⊙z + g⊙l = g⊙u − z to y (PEFT's
// result_dora).
func (lr *lowRank) doraOut(y, z, u []float32, n int) {
	out := lr.out
	for i := 0; i < n; i++ {
		yr, zr, ur := y[i*out:(i+1)*out], z[i*out:(i+1)*out], u[i*out:(i+1)*out]
		for o, g := range lr.g[:out] {
			ur[o] += zr[o]
			yr[o] += g*ur[o] - zr[o]
		}
	}
}

// doraGrad adds DoRA's magnitude gradient dm += Σ_rows dy⊙u / norm (when m is
// trainable) and writes g⊙dy into dyg: the gradient that reaches the LoRA factors.
func (lr *lowRank) doraGrad(dy, u, dyg []float32, n int) {
	out := lr.out
	if dm := lr.m.Grad; dm != nil {
		for i := 0; i < n; i++ {
			dr, ur := dy[i*out:(i+1)*out], u[i*out:(i+1)*out]
			for o := range dm[:out] {
				dm[o] += dr[o] * ur[o] / lr.norm[o]
			}
		}
	}
	for i := 0; i < n; i++ {
		dr, gr := dy[i*out:(i+1)*out], dyg[i*out:(i+1)*out]
		for o, g := range lr.g[:out] {
			gr[o] = g * dr[o]
		}
	}
}

// mergedV returns the base weight as Merge leaves it: V + scale·B·A, or with DoRA
// g⊙(V + scale·B·A) row by row (PEFT's dora_factor · (W + ΔW)).
func (lr *lowRank) mergedV() []float32 {
	if lr.m != nil {
		lr.doraNorms()
		v := append([]float32(nil), lr.vn...)
		for o := 0; o < lr.out; o++ {
			for i := range v[o*lr.in : (o+1)*lr.in] {
				v[o*lr.in+i] *= lr.g[o]
			}
		}
		return v
	}
	v := make([]float32, lr.out*lr.in)
	lr.loadV(v)
	lr.addProduct(v, lr.a.Data, lr.b.Data, 1)
	return v
}

// merge folds the adapter into the base weight, keeping the weight it replaces so
// that unmerge is exact. In safe mode a NaN or Inf in the result leaves the weight
// untouched and returns an error.
func (lr *lowRank) merge(safe bool) error {
	switch {
	case lr.merged:
		return fmt.Errorf("lora: %s: already merged", lr.name)
	case lr.disabled:
		return fmt.Errorf("lora: %s: adapter disabled; enable it before merging", lr.name)
	}
	v := lr.mergedV()
	if safe {
		for i, s := range v {
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				o, c := i/lr.in, i%lr.in
				if lr.table {
					o, c = c, o // report the table's (row, channel)
				}
				return fmt.Errorf("lora: %s: merging would put %v into weight[%d, %d]; adapter left unmerged", lr.name, s, o, c)
			}
		}
	}
	lr.premerge = append(lr.premerge[:0], lr.w.Data...)
	lr.storeV(v)
	lr.merged = true
	return nil
}

// unmerge puts back the base weight merge replaced, bit for bit.
func (lr *lowRank) unmerge() error {
	if !lr.merged {
		return fmt.Errorf("lora: %s: not merged", lr.name)
	}
	copy(lr.w.Data, lr.premerge)
	lr.merged = false
	return nil
}

// setEnabled switches the adapter on or off. Switching off a merged adapter unmerges
// it first, as PEFT does.
func (lr *lowRank) setEnabled(on bool) {
	if !on && lr.merged {
		_ = lr.unmerge()
	}
	lr.disabled = !on
}

// params returns A, B and (DoRA) m.
func (lr *lowRank) params() []*nn.Param {
	if lr.m != nil {
		return []*nn.Param{lr.a, lr.b, lr.m}
	}
	return []*nn.Param{lr.a, lr.b}
}

// convertResidual returns A' = [A; A₀] (2r, in) and B' = [B, −B₀] (out, 2r), so that
// B'A' = BA − B₀A₀: a plain adapter for the base weight before the residual init.
func (lr *lowRank) convertResidual() (A, B []float32) {
	r, out := lr.r, lr.out
	A = append(append([]float32(nil), lr.a.Data...), lr.a0...)
	B = make([]float32, out*2*r)
	for o := 0; o < out; o++ {
		copy(B[o*2*r:o*2*r+r], lr.b.Data[o*r:(o+1)*r])
		for j := 0; j < r; j++ {
			B[o*2*r+r+j] = -lr.b0[o*r+j]
		}
	}
	return A, B
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}
