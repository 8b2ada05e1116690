package policy

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evarl/evarl/nn"
)

// Act predicts the next action of each of bt.B environments (a vector env) from its
// recent context and writes it to actions, (B, Action.Width()), in environment units:
// a discrete action as its index, a continuous one inside [Low, High].
//
// Window w of bt holds environment w's last steps, left-padded, the current step
// last: its return-to-go, state and timestep are the current ones, its action is not
// known yet and is ignored. bt.K may be shorter than the configured context: callers
// pass the longest history among the environments (at most Context), so the first
// steps of an episode cost 3k tokens rather than 3K.
//
// greedy takes the mode: the most probable discrete action, or tanh of the mean.
// Otherwise actions are sampled from rng (a categorical draw from the softmax, or
// tanh(μ + σ·ε) for the Gaussian head); the deterministic head has nothing to sample
// and returns its prediction either way. Dropout is off while acting, whatever the
// mode.
//
// Why no key/value cache: the DT has no positional embedding but its window slides.
// Once an episode is longer than K steps, every step drops the oldest token, and the
// keys and values of every later token in blocks ≥ 1 depended on it through
// attention, so a cache is invalid at every step after the first K of an episode.
// What Act does instead: only what the current step's action depends on. The
// windows' real steps are packed one after another, so padding costs nothing (an
// environment that has just begun its episode costs its few steps, not K). Every
// block but the last runs on all tokens (they are the keys and values of the next
// block); the last block computes keys and values for all tokens but its queries,
// attention output, MLP, ln_f and the head for the current state token of each
// window only, which is most of that block's work saved. Nothing is kept for a
// backward pass, no dropout mask is drawn, and nothing is allocated (buffers are
// grown only for a larger batch). With an observer attached to a Linear or
// Embedding layer (EVA's capture), Act runs the full forward pass instead, so the
// observer sees every row.
func (m *Model) Act(bt *Batch, greedy bool, rng *rand.Rand, actions []float32) error {
	if err := checkBatch(bt, m.cfg, true); err != nil {
		return err
	}
	A := m.cfg.Action.Width()
	if len(actions) < bt.B*A {
		return fmt.Errorf("policy: Act: actions has %d entries, want B·%d = %d", len(actions), A, bt.B*A)
	}
	if !greedy && rng == nil && m.cfg.Head != HeadDeterministic {
		return fmt.Errorf("policy: Act: sampling needs a *rand.Rand")
	}
	for w := 0; w < bt.B; w++ {
		if !bt.Mask[w*bt.K+bt.K-1] {
			return fmt.Errorf("policy: Act: window %d: the last step (the current one) is padding", w)
		}
	}
	wasTrain := m.train
	m.SetTrain(false)
	// row(w) is the row of buf.out that holds window w's current step.
	row := func(w int) int { return w }
	if m.observed() {
		// An observer is shown every row of every layer, as in Forward.
		m.forward(bt, true)
		row = func(w int) int { return w*bt.K + bt.K - 1 }
	} else {
		m.forwardAct(bt)
	}
	m.SetTrain(wasTrain)

	buf, O := m.buf, m.headOut
	lo, hi := m.cfg.Action.Low, m.cfg.Action.High
	scale := func(d int, u float32) float32 { return lo[d] + (u+1)*0.5*(hi[d]-lo[d]) }
	for w := 0; w < bt.B; w++ {
		r := row(w)
		out := buf.out[r*O : (r+1)*O]
		dst := actions[w*A : (w+1)*A]
		switch m.cfg.Head {
		case HeadCategorical:
			dst[0] = float32(pickCategorical(out, greedy, rng))
		case HeadDeterministic:
			for d := range dst {
				dst[d] = clampTo(scale(d, buf.pred[r*A+d]), lo[d], hi[d])
			}
		case HeadGaussian:
			for d := range dst {
				u := float64(buf.mu[r*A+d])
				if !greedy {
					u += math.Exp(float64(buf.logStd[r*A+d])) * rng.NormFloat64()
				}
				dst[d] = clampTo(scale(d, float32(math.Tanh(u))), lo[d], hi[d])
			}
		}
	}
	return nil
}

// pickCategorical returns the argmax of the logits, or a draw from their softmax.
func pickCategorical(logits []float32, greedy bool, rng *rand.Rand) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if greedy {
		return best
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - logits[best]))
	}
	u := rng.Float64() * sum
	for i, v := range logits {
		u -= math.Exp(float64(v - logits[best]))
		if u < 0 {
			return i
		}
	}
	return len(logits) - 1 // rounding left a sliver of mass
}

// clampTo keeps a rescaled action inside its bounds despite float rounding.
func clampTo(v, lo, hi float32) float32 { return min(max(v, lo), hi) }

// observed reports whether any Linear layer or Embedding has an observer.
func (m *Model) observed() bool {
	for _, l := range m.linears {
		if l.Observer != nil {
			return true
		}
	}
	for _, e := range m.tables {
		if e.Observer != nil {
			return true
		}
	}
	return false
}

// actBuffers hold what acting needs beyond Forward's buffers: where each window's
// real steps lie once packed, and the rows the last block and the head compute, one
// per window (the current state token's).
type actBuffers struct {
	b              int       // windows they hold
	steps          []int     // (B+1) window w's real steps are packed step rows steps[w] … steps[w+1]−1
	seqs           []int     // (B+2) each lane's token offsets, relative to the lane's first token
	at             []int     // (B) each window's current state token, relative to its lane's first token
	x, ln, br, mid []float32 // (B, C) residual, LayerNorm output, branch output, after attention
	fc, act        []float32 // (B, 4C)
	hs             []float32 // (B, C) ln_f output
}

// forwardAct is the forward pass of Act (see there): the head's outputs for the
// current step of each window in rows 0 … B−1 of buf.out, and the per-head
// quantities from them. The model must be in evaluation mode.
//
// The windows' real steps are packed one after another, without their padding
// (nn.Attention.ForwardSeqs), since no real token attends to a padding one: when
// some environments have just begun their episodes, their padding would otherwise
// cost as much as real tokens.
func (m *Model) forwardAct(bt *Batch) {
	B, K, C := bt.B, bt.K, m.cfg.EmbedDim
	m.ensure(B * K)
	if m.abuf == nil || m.abuf.b < B {
		f := func(n int) []float32 { return make([]float32, n) }
		m.abuf = &actBuffers{b: B, steps: make([]int, B+1), seqs: make([]int, B+2), at: make([]int, B),
			x: f(B * C), ln: f(B * C), br: f(B * C), mid: f(B * C),
			fc: f(B * 4 * C), act: f(B * 4 * C), hs: f(B * C)}
	}
	ab := m.abuf
	r := 0
	for w := 0; w < B; w++ {
		ab.steps[w] = r
		for s := 0; s < K; s++ {
			if i := w*K + s; bt.Mask[i] {
				m.prepareStep(bt, r, i, s == K-1)
				r++
			}
		}
	}
	ab.steps[B] = r
	m.fwdB, m.fwdK, m.lossDone, m.acted = B, K, false, true
	m.split = B
	if m.useShadow(B, false) {
		m.split = (B + 1) / 2
		m.runLanes(passAct, m.split, B)
	} else {
		m.lane.act(m, 0, B)
	}
	m.headForward(B)
}

// act runs windows [w0, w1) of the packed batch in m.buf through this lane's layers
// for forwardAct.
func (ln *lane) act(m *Model, w0, w1 int) {
	cfg, buf, ab, C := m.cfg, m.buf, m.abuf, m.cfg.EmbedDim
	B := w1 - w0
	s0, s1 := ab.steps[w0], ab.steps[w1]
	n0, n1 := tokensPerStep*s0, tokensPerStep*s1
	N := n1 - n0
	toks := func(x []float32, width int) []float32 { return x[n0*width : n1*width] }
	wins := func(x []float32, width int) []float32 { return x[w0*width : w1*width] }
	first := w0 // lane 0 owns seqs[0 … split], the shadow lane seqs[split+1 … B+1]
	if w0 > 0 {
		first++
	}
	seqs, at := ab.seqs[first:first+B+1], ab.at[w0:w1]
	for i := range seqs {
		seqs[i] = tokensPerStep * (ab.steps[w0+i] - s0)
	}
	for i := range at {
		at[i] = seqs[i+1] - 2 // the state token of the window's last step
	}

	xin := ln.embed(m, s0, s1) // embed_ln output: no dropout while acting
	scratch := toks(buf.scratch, C)
	last := len(ln.blocks) - 1
	for l, blk := range ln.blocks[:last] {
		lb := &buf.layers[l]
		l1, xmid, l2 := toks(lb.ln1, C), toks(lb.xmid, C), toks(lb.ln2, C)
		fc, act, xout := toks(lb.fc, 4*C), toks(lb.act, 4*C), toks(lb.xout, C)
		blk.ln1.Forward(xin, l1, N)
		blk.attn.ForwardSeqs(l1, scratch, seqs)
		addRows(xmid, xin, scratch)
		blk.ln2.Forward(xmid, l2, N)
		blk.fc.Forward(l2, fc, N, nil)
		activate(cfg, fc, act)
		blk.proj.Forward(act, scratch, N, nil)
		addRows(xout, xmid, scratch)
		xin = xout
	}

	// The last block at the current state token of each window only (keys and
	// values from all its tokens).
	blk, lb := ln.blocks[last], &buf.layers[last]
	l1 := toks(lb.ln1, C)
	blk.ln1.Forward(xin, l1, N)
	x, lnq, br, mid := wins(ab.x, C), wins(ab.ln, C), wins(ab.br, C), wins(ab.mid, C)
	fc, act, hs := wins(ab.fc, 4*C), wins(ab.act, 4*C), wins(ab.hs, C)
	for w, r := range at {
		copy(x[w*C:(w+1)*C], xin[r*C:(r+1)*C])
	}
	blk.attn.ForwardSeqsAt(l1, br, seqs, at)
	addRows(mid, x, br)
	blk.ln2.Forward(mid, lnq, B)
	blk.fc.Forward(lnq, fc, B, nil)
	activate(cfg, fc, act)
	blk.proj.Forward(act, br, B, nil)
	addRows(x, mid, br)
	ln.lnF.Forward(x, hs, B)
	ln.head.Forward(hs, wins(buf.out, m.headOut), B, nil)
}

// activate applies the MLP non-linearity.
func activate(cfg Config, x, y []float32) {
	if cfg.Activation == ActGELU {
		nn.GELUForward(x, y)
	} else {
		nn.ReLUForward(x, y)
	}
}

// addRows writes a + b into dst.
func addRows(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}
