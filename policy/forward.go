package policy

import "github.com/evarl/evarl/nn"

// Dimension legend: B windows, K steps per window, T = 3K tokens, C channels,
// S state size, A action width, O head outputs, N = B·T token rows, R = B·K step rows.

// buffers holds every activation of a forward pass and the scratch of the backward
// pass, sized for R step rows; grown (never shrunk) when a larger batch arrives.
type buffers struct {
	rows int // R the buffers hold

	// Inputs after the model's transformations.
	rtg    []float32 // (R, 1) return-to-go / scale
	st     []float32 // (R, S) normalised states
	act    []float32 // (R, A) continuous actions in [-1, 1]
	actIdx []int     // (R) discrete actions
	tIdx   []int     // (R) clipped timesteps
	stepOK []bool    // (R) step mask
	tokOK  []bool    // (N) token mask

	eR, eS, eA, eT []float32 // (R, C) embeddings
	tok            []float32 // (N, C) interleaved token sums
	ln0            []float32 // (N, C) embed_ln output
	layers         []layerBuf
	xs             []float32 // (R, C) residual stream at the state tokens
	hs             []float32 // (R, C) ln_f(xs)
	out            []float32 // (R, O) head output
	pred           []float32 // (R, A) tanh(out) (deterministic head)
	mu, logStd     []float32 // (R, A) Gaussian head
	eps            []float32 // (R, A) entropy-sample noise
	logp, ent      []float32 // (R) Gaussian log-likelihood and entropy sample
	dlogp, dent    []float32 // (R)
	dmu, dlogStd   []float32 // (R, A)
	targets        []int     // (R) alias of actIdx for cross-entropy

	// Backward scratch.
	dout, dhs, dxs []float32 // (R, O), (R, C), (R, C)
	dres           []float32 // (N, C) gradient of the residual stream
	dtmp, dln      []float32 // (N, C)
	dfc, dact      []float32 // (N, 4C)
	dtok           []float32 // (N, C)
	deR, deS, deA  []float32 // (R, C)
	deT            []float32 // (R, C)
	scratch        []float32 // (N, C) branch outputs before the residual add
}

// layerBuf holds one block's activations.
type layerBuf struct {
	xin  []float32 // (N, C) block input: the previous block's xout, or the embeddings
	ln1  []float32 // (N, C)
	xmid []float32 // (N, C) after the attention branch
	ln2  []float32 // (N, C)
	fc   []float32 // (N, 4C) pre-activation
	act  []float32 // (N, 4C) post-activation
	xout []float32 // (N, C) block output
}

func (m *Model) ensure(rows int) *buffers {
	if m.buf != nil && m.buf.rows >= rows {
		return m.buf
	}
	C, S, A, O := m.cfg.EmbedDim, m.cfg.StateDim, m.cfg.Action.Width(), m.headOut
	R, N := rows, rows*tokensPerStep
	f := func(n int) []float32 { return make([]float32, n) }
	b := &buffers{
		rows: rows,
		rtg:  f(R), st: f(R * S), act: f(R * A), actIdx: make([]int, R), tIdx: make([]int, R),
		stepOK: make([]bool, R), tokOK: make([]bool, N),
		eR: f(R * C), eS: f(R * C), eA: f(R * C), eT: f(R * C),
		tok: f(N * C), ln0: f(N * C),
		xs: f(R * C), hs: f(R * C), out: f(R * O), pred: f(R * A),
		mu: f(R * A), logStd: f(R * A), eps: f(R * A), logp: f(R), ent: f(R), dlogp: f(R), dent: f(R),
		dmu: f(R * A), dlogStd: f(R * A),
		dout: f(R * O), dhs: f(R * C), dxs: f(R * C),
		dres: f(N * C), dtmp: f(N * C), dln: f(N * C), dfc: f(N * 4 * C), dact: f(N * 4 * C),
		dtok: f(N * C), deR: f(R * C), deS: f(R * C), deA: f(R * C), deT: f(R * C), scratch: f(N * C),
	}
	xin := f(N * C)
	for range m.blocks {
		lb := layerBuf{
			xin: xin, ln1: f(N * C), xmid: f(N * C), ln2: f(N * C),
			fc: f(N * 4 * C), act: f(N * 4 * C), xout: f(N * C),
		}
		b.layers = append(b.layers, lb)
		xin = lb.xout // the next block reads this block's output in place
	}
	m.buf = b
	return b
}

// Forward runs the model on a batch, keeping what Backward needs, and leaves the
// head's outputs for Loss and for acting. Dropout is active in training mode. It
// returns an error when the batch does not fit the configuration.
func (m *Model) Forward(bt *Batch) error {
	if err := checkBatch(bt, m.cfg, false); err != nil {
		return err
	}
	m.forward(bt, false)
	return nil
}

// forward runs the model; acting means the action of each window's last step is
// unknown and treated as zero.
func (m *Model) forward(bt *Batch, acting bool) {
	m.prepare(bt, acting)
	B, R := bt.B, bt.B*bt.K
	m.split = B
	if m.useShadow(B, true) {
		if m.train && m.cfg.Dropout > 0 {
			m.shadowSrc.Seed(m.rng.Uint64(), m.rng.Uint64())
		}
		m.split = (B + 1) / 2
		m.runLanes(passForward, m.split, B)
	} else {
		m.lane.forward(m, 0, B)
	}
	m.headForward(R)
}

// prepare sizes the buffers for bt and transforms its inputs into them.
func (m *Model) prepare(bt *Batch, acting bool) {
	B, K := bt.B, bt.K
	R := B * K
	m.ensure(R)

	// Inputs: scale returns, normalise states and actions, clip timesteps. Padding
	// steps become zeros, and so does the current action when acting, so that
	// nothing in them (not even a NaN) can reach a real token: a masked key still
	// multiplies its zero attention weight with its value.
	for i := 0; i < R; i++ {
		m.prepareStep(bt, i, i, acting && i%K == K-1)
	}
	m.fwdB, m.fwdK, m.lossDone, m.acted = B, K, false, acting
}

// prepareStep transforms step src of bt into step row dst of m.buf; current marks
// the step being acted on, whose action is not known yet (zeros).
func (m *Model) prepareStep(bt *Batch, dst, src int, current bool) {
	cfg, buf := m.cfg, m.buf
	S, A := cfg.StateDim, cfg.Action.Width()
	ok := bt.Mask[src]
	buf.stepOK[dst] = ok
	for j := 0; j < tokensPerStep; j++ {
		buf.tokOK[tokensPerStep*dst+j] = ok
	}
	st, raw := buf.st[dst*S:(dst+1)*S], bt.States[src*S:(src+1)*S]
	act := buf.act[dst*A : (dst+1)*A]
	if !ok {
		buf.rtg[dst], buf.tIdx[dst], buf.actIdx[dst] = 0, 0, 0
		clear(st)
		clear(act)
		return
	}
	buf.rtg[dst] = bt.Returns[src] * float32(1/cfg.ReturnScale)
	buf.tIdx[dst] = min(max(bt.Timesteps[src], 0), cfg.MaxEpisodeLen-1)
	for d := range st {
		st[d] = (raw[d] - m.stateMean[d]) / m.stateStd[d]
	}
	if current {
		buf.actIdx[dst] = 0
		clear(act)
		return
	}
	if cfg.Action.IsDiscrete() {
		buf.actIdx[dst] = int(bt.Actions[src])
		return
	}
	lo, hi := cfg.Action.Low, cfg.Action.High
	for d := range act {
		act[d] = 2*(bt.Actions[src*A+d]-lo[d])/(hi[d]-lo[d]) - 1
	}
}

// forward runs windows [w0, w1) of the batch in m.buf (inputs already transformed)
// through this lane's layers, up to the head's raw outputs.
func (ln *lane) forward(m *Model, w0, w1 int) {
	cfg, buf, K := m.cfg, m.buf, m.fwdK
	B, T, C := w1-w0, tokensPerStep*K, cfg.EmbedDim
	r0, r1 := w0*K, w1*K // step rows
	n0, n1 := w0*T, w1*T // token rows
	R, N := r1-r0, n1-n0
	rows := func(x []float32, width int) []float32 { return x[r0*width : r1*width] }
	toks := func(x []float32, width int) []float32 { return x[n0*width : n1*width] }
	stepOK, tokOK := buf.stepOK[r0:r1], buf.tokOK[n0:n1]

	ln.embedDrop.Forward(ln.embed(m, r0, r1), toks(buf.layers[0].xin, C))

	scratch := toks(buf.scratch, C)
	for l, blk := range ln.blocks {
		lb := &buf.layers[l]
		xin, l1, xmid, l2 := toks(lb.xin, C), toks(lb.ln1, C), toks(lb.xmid, C), toks(lb.ln2, C)
		fc, act, xout := toks(lb.fc, 4*C), toks(lb.act, 4*C), toks(lb.xout, C)
		// x += drop(attn(ln1(x)))
		blk.ln1.Forward(xin, l1, N)
		blk.attn.Forward(l1, scratch, B, T, tokOK)
		blk.attnDrop.ForwardAdd(scratch, xin, xmid)
		// x += drop(proj(act(fc(ln2(x)))))
		blk.ln2.Forward(xmid, l2, N)
		blk.fc.Forward(l2, fc, N, tokOK)
		if cfg.Activation == ActGELU {
			nn.GELUForward(fc, act)
		} else {
			nn.ReLUForward(fc, act)
		}
		blk.proj.Forward(act, scratch, N, tokOK)
		blk.mlpDrop.ForwardAdd(scratch, xmid, xout)
	}

	// ln_f and the head only at the state tokens: LayerNorm is per row, so this is
	// exact and skips two thirds of the rows.
	last := toks(buf.layers[len(buf.layers)-1].xout, C)
	xs, hs := rows(buf.xs, C), rows(buf.hs, C)
	for i := 0; i < R; i++ {
		r := tokensPerStep*i + 1
		copy(xs[i*C:(i+1)*C], last[r*C:(r+1)*C])
	}
	ln.lnF.Forward(xs, hs, R)
	ln.head.Forward(hs, rows(buf.out, m.headOut), R, stepOK)
}

// embed computes the tokens of step rows [r0, r1) and their embed_ln output
// (returned, a part of buf.ln0): each token is its own embedding plus its step's
// timestep embedding.
func (ln *lane) embed(m *Model, r0, r1 int) []float32 {
	cfg, buf, C := m.cfg, m.buf, m.cfg.EmbedDim
	n0, n1 := tokensPerStep*r0, tokensPerStep*r1 // token rows
	R, N := r1-r0, n1-n0
	rows := func(x []float32, width int) []float32 { return x[r0*width : r1*width] }
	toks := func(x []float32, width int) []float32 { return x[n0*width : n1*width] }
	stepOK := buf.stepOK[r0:r1]

	eR, eS, eA, eT := rows(buf.eR, C), rows(buf.eS, C), rows(buf.eA, C), rows(buf.eT, C)
	ln.embedTime.Forward(buf.tIdx[r0:r1], eT, stepOK)
	ln.embedReturn.Forward(rows(buf.rtg, 1), eR, R, stepOK)
	ln.embedState.Forward(rows(buf.st, cfg.StateDim), eS, R, stepOK)
	if ln.embedActIdx != nil {
		ln.embedActIdx.Forward(buf.actIdx[r0:r1], eA, stepOK)
	} else {
		ln.embedAction.Forward(rows(buf.act, cfg.Action.Width()), eA, R, stepOK)
	}
	tok := toks(buf.tok, C)
	for i := 0; i < R; i++ {
		te := eT[i*C : (i+1)*C]
		for j, e := range [tokensPerStep][]float32{eR, eS, eA} {
			dst := tok[(tokensPerStep*i+j)*C : (tokensPerStep*i+j+1)*C]
			for c, v := range e[i*C : (i+1)*C] {
				dst[c] = v + te[c]
			}
		}
	}
	ln0 := toks(buf.ln0, C)
	ln.embedLN.Forward(tok, ln0, N)
	return ln0
}

// headForward turns the head's raw outputs into the per-head quantities: tanh for
// the deterministic head, μ and bounded log σ for the Gaussian head.
func (m *Model) headForward(R int) {
	buf, A := m.buf, m.cfg.Action.Width()
	switch m.cfg.Head {
	case HeadDeterministic:
		for i, v := range buf.out[:R*A] {
			buf.pred[i] = tanh32(v)
		}
	case HeadGaussian:
		for r := 0; r < R; r++ {
			row := buf.out[r*2*A : (r+1)*2*A]
			copy(buf.mu[r*A:(r+1)*A], row[:A])
			for d, raw := range row[A:] {
				buf.logStd[r*A+d] = logStdMin + 0.5*(logStdMax-logStdMin)*(tanh32(raw)+1)
			}
		}
	}
}
