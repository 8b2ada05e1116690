package policy

import (
	"math"

	"github.com/evarl/evarl/nn"
)

// Loss is what Model.Loss reports for one batch. All means are over the real
// (unpadded) steps of the batch.
type Loss struct {
	// Loss is the objective Backward differentiates: NLL − λ·Entropy for the
	// categorical head (NLL is the cross-entropy) and the Gaussian head, MSE on the
	// tanh output in [-1, 1] units for the deterministic head.
	Loss float32
	// NLL is the mean negative log-likelihood of the taken actions: the cross-entropy
	// (categorical) or under the tanh-squashed Gaussian (Gaussian); 0 for the
	// deterministic head.
	NLL float32
	// Entropy is the mean entropy of the policy at the real steps, what the Online
	// Decision Transformer's temperature λ is tuned against: exact, −Σ p log p, for
	// the categorical head; a one-sample estimate −log p(ã) with ã drawn by
	// reparameterisation for the Gaussian head; 0 for the deterministic head.
	Entropy float32
}

// Loss computes the loss of the head for the batch last given to Forward (bt must be
// that batch) and prepares Backward. lambda is the entropy weight λ of the
// categorical and Gaussian heads (ignored by the deterministic one); supervised
// training passes 0, the Online Decision Transformer's trainer learns it.
// The Gaussian head draws its entropy-sample noise from the model's rng.
func (m *Model) Loss(bt *Batch, lambda float32) Loss {
	if bt.B != m.fwdB || bt.K != m.fwdK || m.acted {
		panic("policy: Loss must follow a Forward of the same batch (not an Act)")
	}
	buf, A, R := m.buf, m.cfg.Action.Width(), m.fwdB*m.fwdK
	stepOK := buf.stepOK[:R]
	dout := buf.dout[:R*m.headOut]
	clear(dout)
	m.lossDone = true
	switch m.cfg.Head {
	case HeadCategorical:
		l := m.ce.Forward(buf.out, buf.actIdx, stepOK, R, m.headOut)
		m.ce.Backward(buf.actIdx, stepOK, 1, dout)
		ent := categoricalEntropy(buf.out, m.ce.Probs(), stepOK, R, m.headOut, lambda, dout)
		return Loss{Loss: l - lambda*ent, NLL: l, Entropy: ent}

	case HeadDeterministic:
		l := nn.MSEForward(buf.pred, buf.act, stepOK, R, A)
		dpred := buf.dmu[:R*A]
		clear(dpred)
		nn.MSEBackward(buf.pred, buf.act, stepOK, R, A, 1, dpred)
		for i, g := range dpred {
			p := buf.pred[i]
			dout[i] = g * (1 - p*p) // d tanh
		}
		return Loss{Loss: l}
	}

	// Gaussian: loss = −mean log p(a) − λ·mean entropy sample.
	for i := range buf.eps[:R*A] {
		buf.eps[i] = float32(m.rng.NormFloat64())
	}
	nn.TanhGaussianLogProb(buf.mu, buf.logStd, buf.act, buf.logp, R, A)
	nn.TanhGaussianEntropySample(buf.mu, buf.logStd, buf.eps, buf.ent, R, A)
	var nReal int
	var sumLogp, sumEnt float64
	for r := 0; r < R; r++ {
		if stepOK[r] {
			nReal++
			sumLogp += float64(buf.logp[r])
			sumEnt += float64(buf.ent[r])
		}
	}
	if nReal == 0 {
		return Loss{}
	}
	w := 1 / float32(nReal)
	for r := 0; r < R; r++ {
		buf.dlogp[r], buf.dent[r] = 0, 0
		if stepOK[r] {
			buf.dlogp[r], buf.dent[r] = -w, -lambda*w
		}
	}
	dmu, dls := buf.dmu[:R*A], buf.dlogStd[:R*A]
	clear(dmu)
	clear(dls)
	fit := -sumLogp / float64(nReal) // the likelihood term Backward differentiates
	if beta := m.cfg.NLLBeta; beta == 0 {
		nn.TanhGaussianLogProbBackward(buf.mu, buf.logStd, buf.act, buf.dlogp, dmu, dls, R, A)
	} else {
		fit = m.betaNLL(R, A, float32(beta), w, stepOK, dmu, dls)
	}
	nn.TanhGaussianEntropySampleBackward(buf.mu, buf.logStd, buf.eps, buf.dent, dmu, dls, R, A)
	for r := 0; r < R; r++ {
		row, raw := dout[r*2*A:(r+1)*2*A], buf.out[r*2*A+A:(r+1)*2*A]
		copy(row[:A], dmu[r*A:(r+1)*A])
		for d := range raw {
			t := tanh32(raw[d])
			row[A+d] = dls[r*A+d] * 0.5 * (logStdMax - logStdMin) * (1 - t*t)
		}
	}
	nll := -sumLogp / float64(nReal)
	ent := sumEnt / float64(nReal)
	return Loss{Loss: float32(fit - float64(lambda)*ent), NLL: float32(nll), Entropy: float32(ent)}
}

// betaNLL is the β-NLL of Seitzer et al. (2022, "On the Pitfalls of Heteroscedastic
// Uncertainty Estimation with Probabilistic Neural Networks"): every action
// component's negative log-likelihood is weighted by sg(σ^2β), σ held fixed in the
// weight, so the gradient on μ is (μ − u)·σ^(2β−2) instead of (μ − u)/σ². With
// β = 0 it is the plain NLL; with β = 1 μ's gradient is that of the squared error in
// u = atanh(a), whatever σ. It returns the weighted mean over the w = 1/nReal real
// rows and adds its gradient into dmu and dls. The components are treated as rows
// of one element each, so nn's per-row log-likelihood gives each one's term; the
// deterministic head's buffer pred (unused by this head) holds them.
func (m *Model) betaNLL(R, A int, beta, w float32, stepOK []bool, dmu, dls []float32) float64 {
	buf := m.buf
	elem := buf.pred[:R*A]
	nn.TanhGaussianLogProb(buf.mu, buf.logStd, buf.act, elem, R*A, 1)
	var sum float64
	for r := 0; r < R; r++ {
		for i := r * A; i < (r+1)*A; i++ {
			if !stepOK[r] {
				elem[i] = 0
				continue
			}
			// σ^2β = exp(2β·log σ), a constant of the graph.
			wt := float32(math.Exp(2 * float64(beta) * float64(buf.logStd[i])))
			sum -= float64(wt) * float64(elem[i])
			elem[i] = -w * wt // d loss / d log p of the component
		}
	}
	nn.TanhGaussianLogProbBackward(buf.mu, buf.logStd, buf.act, elem, dmu, dls, R*A, 1)
	return sum * float64(w)
}

func tanh32(x float32) float32 { return float32(math.Tanh(float64(x))) }

// categoricalEntropy returns the mean entropy H = −Σᵢ pᵢ log pᵢ of the softmax of the
// logits (n, v) over the kept rows, and adds the gradient of −λ·mean H into dlogits:
// ∂H/∂zⱼ = −pⱼ(log pⱼ + H). log p is formed from the logits (zⱼ − logsumexp), so a
// probability that underflows to 0 contributes 0, not NaN.
func categoricalEntropy(logits, probs []float32, mask []bool, n, v int, lambda float32, dlogits []float32) float32 {
	var sum float64
	var kept int
	for r := 0; r < n; r++ {
		if mask[r] {
			kept++
		}
	}
	if kept == 0 {
		return 0
	}
	g := float64(lambda) / float64(kept)
	for r := 0; r < n; r++ {
		if !mask[r] {
			continue
		}
		z, p := logits[r*v:(r+1)*v], probs[r*v:(r+1)*v]
		mx := z[0]
		for _, x := range z[1:] {
			mx = max(mx, x)
		}
		var s float64
		for _, x := range z {
			s += math.Exp(float64(x - mx))
		}
		lse := float64(mx) + math.Log(s)
		var h float64
		for j, x := range z {
			h -= float64(p[j]) * (float64(x) - lse)
		}
		sum += h
		if lambda == 0 {
			continue
		}
		d := dlogits[r*v : (r+1)*v]
		for j, x := range z {
			// −λ/kept · ∂H/∂zⱼ = λ/kept · pⱼ(log pⱼ + H)
			d[j] += float32(g * float64(p[j]) * (float64(x) - lse + h))
		}
	}
	return float32(sum / float64(kept))
}
