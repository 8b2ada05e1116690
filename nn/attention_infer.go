package nn

import (
	"fmt"
	"math"
)

// Inference on packed sequences. A policy acting in many environments at once has
// histories of different lengths; instead of left-padding them to a common length
// (whose padding tokens cost as much as real ones), it packs them one after another:
// x (N, C) holds sequence s in rows seqs[s] … seqs[s+1]−1, every row a real token.
// Tokens attend causally within their own sequence, which is what Forward computes
// for the same tokens with the padding masked out. Nothing is kept for Backward and
// no dropout is applied.

// ForwardSeqs computes out (N, C) from x (N, C) for the packed sequences seqs
// (len(seqs)−1 sequences, seqs[0] = 0, increasing, seqs[len−1] = N).
func (a *Attention) ForwardSeqs(x, out []float32, seqs []int) {
	n := a.packed("ForwardSeqs", x, out, seqs, len(seqs)-1)
	a.q, a.k, a.v, a.y = grow(a.q, n*a.C), grow(a.k, n*a.C), grow(a.v, n*a.C), grow(a.y, n*a.C)
	a.Q.Forward(x, a.q, n, nil)
	a.K.Forward(x, a.k, n, nil)
	a.V.Forward(x, a.v, n, nil)
	a.pairScores(seqs, nil)
	a.phase = phaseSeqs
	parallelRange(a, (len(seqs)-1)*a.NHead)
	a.O.Forward(a.y, out, n, nil)
	a.seqs = nil
}

// ForwardSeqsAt computes the output for one token of each packed sequence: row at[s]
// of x, which attends to rows seqs[s] … at[s]. out is (len(at), C), the rows of
// ForwardSeqs's output at at, at the cost of keys and values for every row but
// queries, attention and the output projection for len(at) rows only (a policy
// needs only its current token's output from the last block).
func (a *Attention) ForwardSeqsAt(x, out []float32, seqs, at []int) {
	s := len(seqs) - 1
	if len(at) != s {
		panic(fmt.Sprintf("nn: %s: ForwardSeqsAt: %d query rows for %d sequences", a.Name, len(at), s))
	}
	n := a.packed("ForwardSeqsAt", x, out, seqs, s)
	c := a.C
	for i, r := range at {
		if r < seqs[i] || r >= seqs[i+1] {
			panic(fmt.Sprintf("nn: %s: ForwardSeqsAt: query row %d outside sequence %d (rows %d…%d)", a.Name, r, i, seqs[i], seqs[i+1]-1))
		}
	}
	a.xq = grow(a.xq, s*c)
	for i, r := range at {
		copy(a.xq[i*c:(i+1)*c], x[r*c:(r+1)*c])
	}
	a.q, a.k, a.v, a.y = grow(a.q, s*c), grow(a.k, n*c), grow(a.v, n*c), grow(a.y, s*c)
	a.Q.Forward(a.xq, a.q, s, nil)
	a.K.Forward(x, a.k, n, nil)
	a.V.Forward(x, a.v, n, nil)
	a.pairScores(seqs, at)
	a.at = at
	a.phase = phaseSeqsAt
	parallelRange(a, s*a.NHead)
	a.O.Forward(a.y, out, s, nil)
	a.seqs, a.at = nil, nil
}

// packed checks the arguments of an inference call over s packed sequences and
// returns the number of rows; it marks the layer as having nothing for Backward.
func (a *Attention) packed(what string, x, out []float32, seqs []int, s int) int {
	if s < 1 || seqs[0] != 0 {
		panic(fmt.Sprintf("nn: %s: %s: sequence offsets %v: want 0 first and at least one sequence", a.Name, what, seqs))
	}
	for i := 1; i <= s; i++ {
		if seqs[i] <= seqs[i-1] {
			panic(fmt.Sprintf("nn: %s: %s: sequence %d is empty or offsets decrease: %v", a.Name, what, i-1, seqs))
		}
	}
	n := seqs[s]
	if len(x) < n*a.C || (what == "ForwardSeqs" && len(out) < n*a.C) || (what == "ForwardSeqsAt" && len(out) < s*a.C) {
		panic(fmt.Sprintf("nn: %s: %s: len(x)=%d len(out)=%d for %d rows, %d sequences, C=%d", a.Name, what, len(x), len(out), n, s, a.C))
	}
	a.b, a.t, a.mask = -1, 0, nil // no Backward for this call
	a.seqs = seqs
	return n
}

// pairScores sizes att for the (sequence, head) pairs' scores: a t×t block per pair
// for every query, or a row of keys up to the query row when at is given.
func (a *Attention) pairScores(seqs, at []int) {
	s := len(seqs) - 1
	if cap(a.attOff) < s*a.NHead+1 {
		a.attOff = make([]int, s*a.NHead+1)
	}
	a.attOff = a.attOff[:s*a.NHead+1]
	off := 0
	for i := 0; i < s; i++ {
		size := seqs[i+1] - seqs[i]
		size *= size
		if at != nil {
			size = at[i] - seqs[i] + 1
		}
		for h := 0; h < a.NHead; h++ {
			a.attOff[i*a.NHead+h] = off
			off += size
		}
	}
	a.attOff[s*a.NHead] = off
	a.att = grow(a.att, off) // the total changes with the sequences' lengths
}

// seqHead computes pair p's slice of y for ForwardSeqs: the head work of Forward on
// one sequence of t rows.
func (a *Attention) seqHead(p int) {
	c, hs := a.C, a.C/a.NHead
	i, h := p/a.NHead, p%a.NHead
	r0, t := a.seqs[i], a.seqs[i+1]-a.seqs[i]
	off := r0*c + h*hs
	att := a.att[a.attOff[p]:a.attOff[p+1]]
	scale := float32(1 / math.Sqrt(float64(hs)))
	// att (t, t) = scale · q (t, hs) · kᵀ (hs, t); the upper triangle is masked below.
	a.Gemm.Sgemm(false, true, t, t, hs, scale, a.q[off:], c, a.k[off:], c, 0, att, t)
	causalSoftmax(att, t, nil)
	// y (t, hs) = att (t, t) · v (t, hs)
	a.Gemm.Sgemm(false, false, t, hs, t, 1, att, t, a.v[off:], c, 0, a.y[off:], c)
}

// seqHeadAt computes pair p's slice of y for ForwardSeqsAt: one query row against
// the keys of its sequence up to it.
func (a *Attention) seqHeadAt(p int) {
	c, hs := a.C, a.C/a.NHead
	i, h := p/a.NHead, p%a.NHead
	r0 := a.seqs[i]
	scores := a.att[a.attOff[p]:a.attOff[p+1]] // keys r0 … at[i]
	qh := a.q[i*c+h*hs:][:hs]
	scale := float32(1 / math.Sqrt(float64(hs)))
	for j := range scores {
		kj := a.k[(r0+j)*c+h*hs:][:hs]
		var s float32
		for d, qv := range qh {
			s += qv * kj[d]
		}
		scores[j] = s * scale
	}
	causalSoftmaxRow(scores, nil)
	yh := a.y[i*c+h*hs:][:hs]
	clear(yh)
	for j, pj := range scores {
		vj := a.v[(r0+j)*c+h*hs:][:hs]
		for d, v := range vj {
			yh[d] += pj * v
		}
	}
}
