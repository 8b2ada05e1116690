package policy

import (
	"math"

	"github.com/evarl/evarl/nn"
)

// Loss is what Model.Loss reports for one batch. All means are over the real
// (unpadded) steps of the batch.
type Loss struct {
	// Loss is the objective Backward differentiates: cross-entropy (categorical), MSE
	// on the tanh output in [-1, 1] units (deterministic), NLL − λ·Entropy (gaussian).
	Loss float32
	// NLL is the mean negative log-likelihood of the taken actions under the tanh-
	// squashed Gaussian (Gaussian head only).
	NLL float32
	// Entropy is the mean one-sample estimate of the policy's entropy, −log p(ã) with
	// ã drawn by reparameterisation (Gaussian head only; what the trainer's
	// temperature λ is tuned against).
	Entropy float32
}

// Loss computes the loss of the head for the batch last given to Forward (bt must be
// that batch) and prepares Backward. lambda is the entropy weight λ of the Gaussian
// head (ignored by the others); the Online Decision Transformer's trainer learns it.
// The Gaussian head draws its entropy-sample noise from the model's rng.
func (m *Model) Loss(bt *Batch, lambda float32) Loss {
	if bt.B != m.fwdB || bt.K != m.fwdK {
		panic("policy: Loss on a batch of another shape than the last Forward")
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
		return Loss{Loss: l}

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
	nn.TanhGaussianLogProbBackward(buf.mu, buf.logStd, buf.act, buf.dlogp, dmu, dls, R, A)
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
	return Loss{Loss: float32(nll - float64(lambda)*ent), NLL: float32(nll), Entropy: float32(ent)}
}

func tanh32(x float32) float32 { return float32(math.Tanh(float64(x))) }
