package policy

import "github.com/evarl/evarl/nn"

// Backward adds the gradient of the last Loss into every trainable parameter's Grad
// (and into adapters plugged into the Linear layers). Callers zero the gradients once
// per step (Params().ZeroGrad()); Backward itself allocates nothing. Calling it
// without a Loss after the last Forward is a programming error and panics.
func (m *Model) Backward() {
	if !m.lossDone {
		panic("policy: Backward without Loss after the last Forward")
	}
	m.lossDone = false
	m.planBackward()
	if m.split < m.fwdB {
		m.zeroShadow()
		m.runLanes(passBackward, m.split, m.fwdB)
		m.reduceShadow()
	} else {
		m.lane.backward(m, 0, m.fwdB)
	}
}

// backward propagates the head gradient of windows [w0, w1) through this lane's
// layers, adding into the lane's parameter gradients.
func (ln *lane) backward(m *Model, w0, w1 int) {
	cfg, buf, K := m.cfg, m.buf, m.fwdK
	B, T, C := w1-w0, tokensPerStep*K, cfg.EmbedDim
	r0, r1 := w0*K, w1*K // step rows
	n0, n1 := w0*T, w1*T // token rows
	R, N := r1-r0, n1-n0
	rows := func(x []float32, width int) []float32 { return x[r0*width : r1*width] }
	toks := func(x []float32, width int) []float32 { return x[n0*width : n1*width] }

	// Head and ln_f at the state tokens, scattered back into the residual gradient.
	dhs, dxs := rows(buf.dhs, C), rows(buf.dxs, C)
	top := m.plan[len(m.plan)-1].out // the blocks need the gradient of their output
	clear(dhs)
	clear(dxs)
	ln.head.Backward(rows(buf.hs, C), rows(buf.dout, m.headOut), nilUnless(top || ln.lnF.Trainable(), dhs), R)
	ln.lnF.Backward(rows(buf.xs, C), dhs, nilUnless(top, dxs), R)
	if !top {
		return
	}
	dres := toks(buf.dres, C)
	clear(dres)
	for i := 0; i < R; i++ {
		r := tokensPerStep*i + 1
		copy(dres[r*C:(r+1)*C], dxs[i*C:(i+1)*C])
	}

	// Blocks in reverse; dres holds the gradient of the residual stream throughout:
	// each branch's input gradient is added to it on the way down. The plan (see
	// planBackward) stops where nothing further down learns.
	dtmp, dln := toks(buf.dtmp, C), toks(buf.dln, C)
	dfc, dact := toks(buf.dfc, 4*C), toks(buf.dact, 4*C)
	for l := len(ln.blocks) - 1; l >= 0; l-- {
		blk, lb, need := ln.blocks[l], &buf.layers[l], m.plan[l]
		if !need.out {
			return
		}
		// MLP branch: xout = xmid + drop(proj(act(fc(ln2(xmid))))).
		clear(dtmp)
		blk.mlpDrop.Backward(dres, dtmp)
		if need.mlpIn {
			clear(dact)
			blk.proj.Backward(toks(lb.act, 4*C), dtmp, dact, N)
			clear(dfc)
			if cfg.Activation == ActGELU {
				nn.GELUBackwardWithOutput(toks(lb.fc, 4*C), toks(lb.act, 4*C), dact, dfc) // lb.act is the GELU output
			} else {
				nn.ReLUBackward(toks(lb.fc, 4*C), dact, dfc)
			}
			clear(dln)
			blk.fc.Backward(toks(lb.ln2, C), dfc, nilUnless(need.ln2In, dln), N)
			blk.ln2.Backward(toks(lb.xmid, C), dln, nilUnless(need.mid, dres), N)
		} else {
			blk.proj.Backward(toks(lb.act, 4*C), dtmp, nil, N)
		}
		if !need.mid {
			return
		}
		// Attention branch: xmid = xin + drop(attn(ln1(xin))).
		clear(dtmp)
		blk.attnDrop.Backward(dres, dtmp)
		clear(dln)
		blk.attn.Backward(toks(lb.ln1, C), dtmp, nilUnless(need.ln1In, dln), B, T)
		blk.ln1.Backward(toks(lb.xin, C), dln, nilUnless(need.in, dres), N)
		if !need.in {
			return
		}
	}

	// Embedding dropout and LayerNorm, then split each token's gradient between its
	// own embedding and its step's timestep embedding.
	clear(dtmp)
	ln.embedDrop.Backward(dres, dtmp)
	dtok := toks(buf.dtok, C)
	clear(dtok)
	ln.embedLN.Backward(toks(buf.tok, C), dtmp, dtok, N)
	deR, deS, deA, deT := rows(buf.deR, C), rows(buf.deS, C), rows(buf.deA, C), rows(buf.deT, C)
	for i := 0; i < R; i++ {
		gR := dtok[(tokensPerStep*i)*C : (tokensPerStep*i+1)*C]
		gS := dtok[(tokensPerStep*i+1)*C : (tokensPerStep*i+2)*C]
		gA := dtok[(tokensPerStep*i+2)*C : (tokensPerStep*i+3)*C]
		copy(deR[i*C:], gR)
		copy(deS[i*C:], gS)
		copy(deA[i*C:], gA)
		t := deT[i*C : (i+1)*C]
		for c := range t {
			t[c] = gR[c] + gS[c] + gA[c]
		}
	}
	ln.embedTime.Backward(buf.tIdx[r0:r1], deT)
	ln.embedReturn.Backward(rows(buf.rtg, 1), deR, nil, R)
	ln.embedState.Backward(rows(buf.st, cfg.StateDim), deS, nil, R)
	if ln.embedActIdx != nil {
		ln.embedActIdx.Backward(buf.actIdx[r0:r1], deA)
	} else {
		ln.embedAction.Backward(rows(buf.act, cfg.Action.Width()), deA, nil, R)
	}
}

// blockPlan says which gradients one block's backward pass must produce: at its
// output (xout), between its branches (xmid) and at its input (xin), at the outputs
// of its two LayerNorms, and at the input of the MLP's second layer. A gradient is
// needed when something at or below that point learns: a trainable parameter or an
// adapter. With LoRA on the block layers, for example, block 0 needs no input
// gradient, and the embeddings' backward is skipped, as autograd skips it.
type blockPlan struct {
	out, mid, in bool
	ln2In, ln1In bool // gradient of ln2's and ln1's outputs
	mlpIn        bool // gradient of proj's input (act) and so of fc's output
}

// planBackward fills m.plan from the current trainability of lane 0's layers (the
// shadow lane mirrors it).
func (m *Model) planBackward() {
	if len(m.plan) != len(m.blocks) {
		m.plan = make([]blockPlan, len(m.blocks))
	}
	below := m.embedReturn.NeedsGrad() || m.embedState.NeedsGrad() || m.embedLN.Trainable()
	if m.embedAction != nil {
		below = below || m.embedAction.NeedsGrad()
	}
	for _, e := range m.tables { // the timestep and discrete-action tables
		below = below || e.W.Trainable() || e.Adapter != nil
	}
	for l, blk := range m.blocks {
		p := &m.plan[l]
		p.in = below
		p.ln1In = p.in || blk.ln1.Trainable()
		p.mid = p.ln1In || blk.attn.NeedsGrad()
		p.ln2In = p.mid || blk.ln2.Trainable()
		p.mlpIn = p.ln2In || blk.fc.NeedsGrad()
		p.out = p.mlpIn || blk.proj.NeedsGrad()
		below = p.out
	}
}

// nilUnless returns buf when need holds and nil otherwise: a nil input gradient
// tells an nn layer to skip computing it.
func nilUnless(need bool, buf []float32) []float32 {
	if need {
		return buf
	}
	return nil
}
