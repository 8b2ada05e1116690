package nn

import (
	"fmt"
	"math"
)

// Attention is causal multi-head self-attention (GPT-2's), with a key padding mask:
// over a batch of B sequences of T tokens of C channels,
//
//	q, k, v = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv            (B, T, C)
//	per head h (channels h·hs … (h+1)·hs, hs = C/NHead):
//	  att = softmax(q·kᵀ/√hs) over keys j ≤ i that the mask keeps   (B, NHead, T, T)
//	  y   = att·v                                                    (B, T, C)
//	out = y·Woᵀ + bo                                                 (B, T, C)
//
// The four projections are ordinary Linear layers named Name+".q", ".k", ".v", ".o",
// so adapters and observers attach to them one by one.
//
// Padding: mask (B, T) is true for a real token. A padding key receives zero attention
// from every query, so a padding token's values never reach another token's output. A
// query with no key to attend to (left padding before the first real token) gets
// all-zero attention and y = 0; its output is then the O layer's bias, which the
// caller's loss mask ignores.
//
// Drop, when non-nil, is dropout on the attention probabilities (GPT-2's attn_pdrop):
// y = dropout(att)·v. It follows Drop.Train like any Dropout; it belongs to this layer
// alone and its Train must not change between a Forward and its Backward.
//
// The layer keeps q, k, v, the attention probabilities and y for Backward, in
// buffers sized on the first call for a (B, T) and reused after. The (batch, head)
// pairs run in parallel (see linear_parallel.go); a layer must not be used by two
// goroutines at once.
type Attention struct {
	Name       string
	C, NHead   int
	Q, K, V, O *Linear
	Drop       *Dropout
	Gemm       Gemm

	b, t       int
	mask       []bool    // (B, T) of the last Forward, nil for none
	q, k, v, y []float32 // (B, T, C)
	att        []float32 // (B, NHead, T, T) probabilities; masked entries are 0
	attd       []float32 // (B, NHead, T, T) att after dropout (only with Drop active)
	dq, dk, dv []float32 // (B, T, C)
	dy         []float32 // (B, T, C)
	datt       []float32 // (B, NHead, T, T)
	dattd      []float32 // (B, NHead, T, T) gradient of attd (only with Drop active)

	phase attnPhase // which part of the head work runRange does

	// Inference on packed sequences (attention_infer.go).
	seqs, at []int     // the call's sequence offsets and query rows
	attOff   []int     // (S·NHead + 1) offsets of each pair's scores in att
	xq       []float32 // (S, C) ForwardSeqsAt's query rows
}

// NewAttention allocates the four zero-initialised projections (with biases). c must
// be a multiple of nHead.
func NewAttention(name string, c, nHead int, g Gemm) *Attention {
	if nHead <= 0 || c%nHead != 0 {
		panic(fmt.Sprintf("nn: %s: %d channels do not split into %d heads", name, c, nHead))
	}
	return &Attention{
		Name: name, C: c, NHead: nHead, Gemm: g,
		Q: NewLinear(name+".q", c, c, true, g),
		K: NewLinear(name+".k", c, c, true, g),
		V: NewLinear(name+".v", c, c, true, g),
		O: NewLinear(name+".o", c, c, true, g),
	}
}

// NeedsGrad reports whether a gradient arriving at the layer's output is used by
// any of its projections (trainable parameters or an adapter).
func (a *Attention) NeedsGrad() bool {
	return a.Q.NeedsGrad() || a.K.NeedsGrad() || a.V.NeedsGrad() || a.O.NeedsGrad()
}

// Params returns the projections' parameters in the order q, k, v, o.
func (a *Attention) Params() []*Param {
	var ps []*Param
	for _, l := range []*Linear{a.Q, a.K, a.V, a.O} {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Forward computes out (B, T, C) from x (B, T, C); mask (B, T) marks real tokens, nil
// means all are real. out must not alias x.
func (a *Attention) Forward(x, out []float32, b, t int, mask []bool) {
	n := b * t
	if len(x) < n*a.C || len(out) < n*a.C || (mask != nil && len(mask) < n) {
		panic(fmt.Sprintf("nn: %s: len(x)=%d len(out)=%d len(mask)=%d for B=%d T=%d C=%d", a.Name, len(x), len(out), len(mask), b, t, a.C))
	}
	a.ensure(b, t)
	a.mask = mask
	a.Q.Forward(x, a.q, n, mask)
	a.K.Forward(x, a.k, n, mask)
	a.V.Forward(x, a.v, n, mask)
	if a.dropping() {
		a.phase = phaseScores
		parallelRange(a, b*a.NHead)
		a.Drop.Forward(a.att, a.attd)
		a.phase = phaseValues
	} else {
		a.phase = phaseForward
	}
	parallelRange(a, b*a.NHead)
	a.mask = nil // the caller's slice is not kept past the call
	a.O.Forward(a.y, out, n, mask)
}

// head returns the offset of pair bh's (T, hs) slice in a (B, T, C) buffer (row
// stride C) and the pair's (T, T) block of an attention buffer.
func (a *Attention) head(bh int, buf []float32) (off int, blk []float32) {
	c, t, hs := a.C, a.t, a.C/a.NHead
	bi, h := bh/a.NHead, bh%a.NHead
	return bi*t*c + h*hs, buf[bh*t*t : (bh+1)*t*t]
}

// headScores writes pair bh's attention probabilities.
func (a *Attention) headScores(bh int) {
	c, t, hs := a.C, a.t, a.C/a.NHead
	off, att := a.head(bh, a.att)
	scale := float32(1 / math.Sqrt(float64(hs)))
	// att (T, T) = scale · q (T, hs) · kᵀ (hs, T); the upper triangle is masked below.
	a.Gemm.Sgemm(false, true, t, t, hs, scale, a.q[off:], c, a.k[off:], c, 0, att, t)
	var keep []bool
	if a.mask != nil {
		bi := bh / a.NHead
		keep = a.mask[bi*t : (bi+1)*t]
	}
	causalSoftmax(att, t, keep)
}

// headValues writes pair bh's slice of y.
func (a *Attention) headValues(bh int) {
	c, t, hs := a.C, a.t, a.C/a.NHead
	src := a.att
	if a.dropping() {
		src = a.attd
	}
	off, att := a.head(bh, src)
	// y (T, hs) = att (T, T) · v (T, hs)
	a.Gemm.Sgemm(false, false, t, hs, t, 1, att, t, a.v[off:], c, 0, a.y[off:], c)
}

// causalSoftmax turns each row i of the (T, T) scores into probabilities over keys
// j ≤ i with keep[j] (keep nil: all), and zeroes every other entry.
func causalSoftmax(att []float32, t int, keep []bool) {
	for i := 0; i < t; i++ {
		row := att[i*t : (i+1)*t]
		causalSoftmaxRow(row[:i+1], keep)
		clear(row[i+1:])
	}
}

// causalSoftmaxRow turns the scores of one query over keys 0 … len(row)−1 into
// probabilities over the keys with keep[j] (keep nil: all); the others get 0, and so
// does every key when none is kept.
func causalSoftmaxRow(row []float32, keep []bool) {
	mx := float32(math.Inf(-1))
	for j, v := range row {
		if keep == nil || keep[j] {
			mx = max(mx, v)
		}
	}
	if math.IsInf(float64(mx), -1) {
		clear(row) // no key to attend to
		return
	}
	if !expShiftVec(row, mx) {
		for j, v := range row {
			row[j] = expNarrow(v - mx)
		}
	}
	var s float32
	for j, e := range row {
		if keep == nil || keep[j] {
			s += e
		} else {
			row[j] = 0
		}
	}
	inv := 1 / s
	for j := range row {
		row[j] *= inv
	}
}

// Backward adds the gradients for the last Forward into the projections' parameters
// (trainable ones and adapters) and, when dx is non-nil, into dx (B, T, C). x is the
// input Forward saw and dout (B, T, C) the gradient of its output.
func (a *Attention) Backward(x, dout, dx []float32, b, t int) {
	if a.b < 0 {
		panic("nn: " + a.Name + ": Backward after an inference-only forward (ForwardSeqs, ForwardSeqsAt)")
	}
	if b != a.b || t != a.t {
		panic(fmt.Sprintf("nn: %s: Backward for B=%d T=%d after Forward for B=%d T=%d", a.Name, b, t, a.b, a.t))
	}
	n := b * t
	a.ensureGrad()
	inner := dx != nil || a.Q.NeedsGrad() || a.K.NeedsGrad() || a.V.NeedsGrad()
	var dy []float32
	if inner {
		dy = a.dy
		clear(dy)
	}
	a.O.Backward(a.y, dout, dy, n)
	if !inner {
		return
	}
	if a.dropping() {
		a.phase = phaseBackValues
		parallelRange(a, b*a.NHead)
		clear(a.datt)
		a.Drop.Backward(a.dattd, a.datt)
		a.phase = phaseBackScores
	} else {
		a.phase = phaseBackward
	}
	parallelRange(a, b*a.NHead)
	a.Q.Backward(x, a.dq, dx, n)
	a.K.Backward(x, a.dk, dx, n)
	a.V.Backward(x, a.dv, dx, n)
}

// headBackValues writes the gradient of pair bh's (dropped-out) probabilities and its
// slice of dv.
func (a *Attention) headBackValues(bh int) {
	c, t := a.C, a.t
	att, datt := a.att, a.datt
	if a.dropping() {
		att, datt = a.attd, a.dattd
	}
	off, p := a.head(bh, att)
	_, dp := a.head(bh, datt)
	hs := c / a.NHead
	// datt (T, T) = dy (T, hs) · vᵀ (hs, T)
	a.Gemm.Sgemm(false, true, t, t, hs, 1, a.dy[off:], c, a.v[off:], c, 0, dp, t)
	// dv (T, hs) = attᵀ (T, T) · dy (T, hs)
	a.Gemm.Sgemm(true, false, t, hs, t, 1, p, t, a.dy[off:], c, 0, a.dv[off:], c)
}

// headBackScores turns pair bh's probability gradient into score gradients and
// writes its slices of dq and dk.
func (a *Attention) headBackScores(bh int) {
	c, t, hs := a.C, a.t, a.C/a.NHead
	off, att := a.head(bh, a.att)
	_, datt := a.head(bh, a.datt)
	scale := float32(1 / math.Sqrt(float64(hs)))
	causalSoftmaxBackward(att, datt, t)
	// dq (T, hs) = scale · dscores (T, T) · k (T, hs)
	a.Gemm.Sgemm(false, false, t, hs, t, scale, datt, t, a.k[off:], c, 0, a.dq[off:], c)
	// dk (T, hs) = scale · dscoresᵀ (T, T) · q (T, hs)
	a.Gemm.Sgemm(true, false, t, hs, t, scale, datt, t, a.q[off:], c, 0, a.dk[off:], c)
}

// causalSoftmaxBackward turns datt (the gradient of the probabilities) into the
// gradient of the scores in place: ds_ij = p_ij·(dp_ij − Σ_k p_ik·dp_ik). Masked
// entries have p = 0 and so get no gradient.
func causalSoftmaxBackward(att, datt []float32, t int) {
	for i := 0; i < t; i++ {
		p, d := att[i*t:(i+1)*t], datt[i*t:(i+1)*t]
		var dot float32
		for j := 0; j <= i; j++ {
			dot += p[j] * d[j]
		}
		for j := 0; j <= i; j++ {
			d[j] = p[j] * (d[j] - dot)
		}
		clear(d[i+1:])
	}
}

// attnPhase names the per-head work between the serial steps.
type attnPhase int

const (
	phaseScores     attnPhase = iota // scores and softmax into att
	phaseValues                      // y = att'·v, att' = attd or att
	phaseForward                     // both, when no dropout separates them
	phaseBackValues                  // datt' = dy·vᵀ, dv = att'ᵀ·dy
	phaseBackScores                  // softmax backward, dq, dk
	phaseBackward                    // both, when no dropout separates them
	phaseSeqs                        // packed sequences, every query (attention_infer.go)
	phaseSeqsAt                      // packed sequences, one query each
)

// runRange implements rangeRunner: the current phase for pairs [lo, hi).
func (a *Attention) runRange(lo, hi int) {
	for bh := lo; bh < hi; bh++ {
		switch a.phase {
		case phaseScores:
			a.headScores(bh)
		case phaseValues:
			a.headValues(bh)
		case phaseForward:
			a.headScores(bh)
			a.headValues(bh)
		case phaseBackValues:
			a.headBackValues(bh)
		case phaseBackScores:
			a.headBackScores(bh)
		case phaseBackward:
			a.headBackValues(bh)
			a.headBackScores(bh)
		case phaseSeqs:
			a.seqHead(bh)
		case phaseSeqsAt:
			a.seqHeadAt(bh)
		}
	}
}

// dropping reports whether attention dropout is active.
func (a *Attention) dropping() bool { return a.Drop != nil && a.Drop.active() }

// ensure sizes the saved-state buffers for (B, T), allocating only when they grow.
func (a *Attention) ensure(b, t int) {
	a.b, a.t = b, t
	n := b * t * a.C
	na := b * a.NHead * t * t
	a.q, a.k, a.v, a.y = grow(a.q, n), grow(a.k, n), grow(a.v, n), grow(a.y, n)
	a.att = grow(a.att, na)
	if a.dropping() {
		a.attd = grow(a.attd, na)
	}
}

func (a *Attention) ensureGrad() {
	n := a.b * a.t * a.C
	a.dq, a.dk, a.dv, a.dy = grow(a.dq, n), grow(a.dk, n), grow(a.dv, n), grow(a.dy, n)
	a.datt = grow(a.datt, a.b*a.NHead*a.t*a.t)
	if a.dropping() {
		a.dattd = grow(a.dattd, a.b*a.NHead*a.t*a.t)
	}
}

// attentionNaive is the plain-loop twin of the head work (as llm.c's
// attention_forward): y (B, T, C) from q, k, v (B, T, C) with the causal and padding
// masks, no dropout. The tests hold the Gemm path to it.
func attentionNaive(q, k, v, y []float32, b, t, c, nHead int, mask []bool) {
	hs := c / nHead
	scale := 1 / math.Sqrt(float64(hs))
	p := make([]float64, t)
	for bi := 0; bi < b; bi++ {
		for h := 0; h < nHead; h++ {
			for i := 0; i < t; i++ {
				qi := q[(bi*t+i)*c+h*hs:][:hs]
				mx, any := math.Inf(-1), false
				for j := 0; j <= i; j++ {
					p[j] = math.Inf(-1)
					if mask != nil && !mask[bi*t+j] {
						continue
					}
					kj := k[(bi*t+j)*c+h*hs:][:hs]
					var s float64
					for d := range qi {
						s += float64(qi[d]) * float64(kj[d])
					}
					p[j] = s * scale
					mx, any = math.Max(mx, p[j]), true
				}
				var sum float64
				for j := 0; j <= i; j++ {
					if any && !math.IsInf(p[j], -1) {
						p[j] = math.Exp(p[j] - mx)
						sum += p[j]
					} else {
						p[j] = 0
					}
				}
				yi := y[(bi*t+i)*c+h*hs:][:hs]
				for d := range yi {
					var s float64
					for j := 0; j <= i; j++ {
						if p[j] != 0 {
							s += p[j] / sum * float64(v[(bi*t+j)*c+h*hs+d])
						}
					}
					yi[d] = float32(s)
				}
			}
		}
	}
}
