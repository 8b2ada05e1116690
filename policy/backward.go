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
	cfg, buf := m.cfg, m.buf
	B, K := m.fwdB, m.fwdK
	T, C := tokensPerStep*K, cfg.EmbedDim
	R, N := B*K, B*T

	// Head and ln_f at the state tokens, scattered back into the residual gradient.
	dhs, dxs := buf.dhs[:R*C], buf.dxs[:R*C]
	clear(dhs)
	clear(dxs)
	m.head.Backward(buf.hs, buf.dout, dhs, R)
	m.lnF.Backward(buf.xs, dhs, dxs, R)
	dres := buf.dres[:N*C]
	clear(dres)
	for i := 0; i < R; i++ {
		r := tokensPerStep*i + 1
		copy(dres[r*C:(r+1)*C], dxs[i*C:(i+1)*C])
	}

	// Blocks in reverse; dres holds the gradient of the residual stream throughout:
	// each branch's input gradient is added to it on the way down.
	dtmp, dln := buf.dtmp[:N*C], buf.dln[:N*C]
	dfc, dact := buf.dfc[:N*4*C], buf.dact[:N*4*C]
	for l := len(m.blocks) - 1; l >= 0; l-- {
		blk, lb := m.blocks[l], &buf.layers[l]
		// MLP branch: xout = xmid + drop(proj(act(fc(ln2(xmid))))).
		clear(dtmp)
		blk.mlpDrop.Backward(dres, dtmp)
		clear(dact)
		blk.proj.Backward(lb.act, dtmp, dact, N)
		clear(dfc)
		if cfg.Activation == ActGELU {
			nn.GELUBackward(lb.fc[:N*4*C], dact, dfc)
		} else {
			nn.ReLUBackward(lb.fc[:N*4*C], dact, dfc)
		}
		clear(dln)
		blk.fc.Backward(lb.ln2, dfc, dln, N)
		blk.ln2.Backward(lb.xmid, dln, dres, N)
		// Attention branch: xmid = xin + drop(attn(ln1(xin))).
		clear(dtmp)
		blk.attnDrop.Backward(dres, dtmp)
		clear(dln)
		blk.attn.Backward(lb.ln1, dtmp, dln, B, T)
		blk.ln1.Backward(lb.xin, dln, dres, N)
	}

	// Embedding dropout and LayerNorm, then split each token's gradient between its
	// own embedding and its step's timestep embedding.
	clear(dtmp)
	m.embedDrop.Backward(dres, dtmp)
	dtok := buf.dtok[:N*C]
	clear(dtok)
	m.embedLN.Backward(buf.tok, dtmp, dtok, N)
	deR, deS, deA, deT := buf.deR[:R*C], buf.deS[:R*C], buf.deA[:R*C], buf.deT[:R*C]
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
	m.embedTime.Backward(buf.tIdx[:R], deT)
	m.embedReturn.Backward(buf.rtg, deR, nil, R)
	m.embedState.Backward(buf.st, deS, nil, R)
	if m.embedActIdx != nil {
		m.embedActIdx.Backward(buf.actIdx[:R], deA)
	} else {
		m.embedAction.Backward(buf.act, deA, nil, R)
	}
}
