package policy

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refDT builds the same Decision Transformer as Model in gorgonia (float64) from the
// model's own parameter values and computes the loss of one batch and the gradient of
// every parameter by gorgonia's autodiff. It is the independent reference the
// hand-written forward and backward are held to.
//
// Everything is written with gorgonia's matrix product and elementwise ops only, one
// batch element at a time: row means are products with a constant (C, C) matrix of
// 1/C, broadcasts of a bias row are products with a column of ones, the interleaving
// of tokens is a permutation matrix, embeddings are one-hot products. Slow and
// obvious, which is the point.
type refDT struct {
	g      *G.ExprGraph
	cfg    Config
	params map[string]*G.Node
	shapes map[string][]int
}

func newRefDT(m *Model) *refDT {
	r := &refDT{g: G.NewGraph(), cfg: m.Config(), params: map[string]*G.Node{}, shapes: map[string][]int{}}
	for _, p := range m.Params().All() {
		shape := p.Shape
		if len(shape) == 1 { // biases and LayerNorm vectors become (1, n) rows
			shape = []int{1, shape[0]}
		}
		r.shapes[p.Name] = p.Shape
		r.params[p.Name] = G.NewMatrix(r.g, tensor.Float64, G.WithShape(shape...), G.WithName(p.Name),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f64(p.Data)))))
	}
	return r
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func (r *refDT) p(name string) *G.Node {
	n, ok := r.params[name]
	if !ok {
		panic("refDT: no parameter " + name)
	}
	return n
}

func (r *refDT) constant(rows, cols int, data []float64) *G.Node {
	return G.NewConstant(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(data)))
}

func (r *refDT) ones(rows int) *G.Node {
	d := make([]float64, rows)
	for i := range d {
		d[i] = 1
	}
	return r.constant(rows, 1, d)
}

// linear: x (n, in) · Wᵀ + 1·b.
func (r *refDT) linear(x *G.Node, name string, n int) *G.Node {
	y := G.Must(G.Mul(x, G.Must(G.Transpose(r.p(name+".weight")))))
	if b, ok := r.params[name+".bias"]; ok {
		y = G.Must(G.Add(y, G.Must(G.Mul(r.ones(n), b))))
	}
	return y
}

// layerNorm over the C columns of x (n, C), eps 1e-5 as in PyTorch.
func (r *refDT) layerNorm(x *G.Node, name string, n, c int) *G.Node {
	j := make([]float64, c*c)
	for i := range j {
		j[i] = 1 / float64(c)
	}
	avg := r.constant(c, c, j)
	xc := G.Must(G.Sub(x, G.Must(G.Mul(x, avg))))
	v := G.Must(G.Mul(G.Must(G.HadamardProd(xc, xc)), avg))
	sd := G.Must(G.Sqrt(G.Must(G.Add(v, G.NewConstant(1e-5)))))
	xn := G.Must(G.HadamardDiv(xc, sd))
	one := r.ones(n)
	return G.Must(G.Add(G.Must(G.HadamardProd(xn, G.Must(G.Mul(one, r.p(name+".weight"))))), G.Must(G.Mul(one, r.p(name+".bias")))))
}

// gelu: the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func gelu(x *G.Node) *G.Node {
	inner := G.Must(G.Add(x, G.Must(G.Mul(G.NewConstant(0.044715), G.Must(G.Cube(x))))))
	t := G.Must(G.Tanh(G.Must(G.Mul(G.NewConstant(math.Sqrt(2/math.Pi)), inner))))
	return G.Must(G.HadamardProd(G.Must(G.Mul(G.NewConstant(0.5), x)), G.Must(G.Add(t, G.NewConstant(1.0)))))
}

// refLoss is what the reference computes for one batch.
type refLoss struct {
	loss, nll, entropy float64
	grads              map[string][]float64
	preds              [][]float64 // per batch element, (K, head outputs) at the state tokens
}

// run builds the graph for batch b (raw inputs, as Model takes them) and evaluates it.
func (r *refDT) run(m *Model, b *Batch, lambda float64) (*refLoss, error) {
	cfg := r.cfg
	K, C, T := cfg.Context, cfg.EmbedDim, tokensPerStep*cfg.Context
	H, hd := cfg.Heads, cfg.EmbedDim/cfg.Heads
	S, A := cfg.StateDim, cfg.Action.Width()
	nReal := 0
	for _, ok := range b.Mask[:b.B*K] {
		if ok {
			nReal++
		}
	}
	var total, nllSum, entSum *G.Node
	add := func(acc **G.Node, v *G.Node) {
		if *acc == nil {
			*acc = v
		} else {
			*acc = G.Must(G.Add(*acc, v))
		}
	}
	var predNodes []*G.Node
	for bi := 0; bi < b.B; bi++ {
		// Inputs, transformed exactly as documented for Batch.
		rtg := make([]float64, K)
		st := make([]float64, K*S)
		tOH := make([]float64, K*cfg.MaxEpisodeLen)
		for k := 0; k < K; k++ {
			i := bi*K + k
			rtg[k] = float64(b.Returns[i]) / cfg.ReturnScale
			for d := 0; d < S; d++ {
				st[k*S+d] = (float64(b.States[i*S+d]) - float64(m.stateMean[d])) / float64(m.stateStd[d])
			}
			ts := int(b.Timesteps[i])
			ts = max(0, min(ts, cfg.MaxEpisodeLen-1))
			tOH[k*cfg.MaxEpisodeLen+ts] = 1
		}
		te := G.Must(G.Mul(r.constant(K, cfg.MaxEpisodeLen, tOH), r.p("embed_timestep.weight")))
		rTok := G.Must(G.Add(r.linear(r.constant(K, 1, rtg), "embed_return", K), te))
		sTok := G.Must(G.Add(r.linear(r.constant(K, S, st), "embed_state", K), te))
		var aTok *G.Node
		if cfg.Action.IsDiscrete() {
			n := cfg.Action.Discrete
			oh := make([]float64, K*n)
			for k := 0; k < K; k++ {
				if a := int(b.Actions[bi*K+k]); a >= 0 && a < n {
					oh[k*n+a] = 1
				}
			}
			aTok = G.Must(G.Add(G.Must(G.Mul(r.constant(K, n, oh), r.p("embed_action.weight"))), te))
		} else {
			an := make([]float64, K*A)
			for k := 0; k < K; k++ {
				for d := 0; d < A; d++ {
					an[k*A+d] = normAction(float64(b.Actions[(bi*K+k)*A+d]), cfg.Action, d)
				}
			}
			aTok = G.Must(G.Add(r.linear(r.constant(K, A, an), "embed_action", K), te))
		}
		// Interleave (R₁, s₁, a₁, R₂, …) with a permutation of the stacked rows.
		perm := make([]float64, T*T)
		for k := 0; k < K; k++ {
			for j := 0; j < tokensPerStep; j++ {
				perm[(tokensPerStep*k+j)*T+j*K+k] = 1
			}
		}
		x := G.Must(G.Mul(r.constant(T, T, perm), G.Must(G.Concat(0, rTok, sTok, aTok))))
		x = r.layerNorm(x, "embed_ln", T, C)
		// Additive attention mask: causal, and padding keys excluded.
		mask := make([]float64, T*T)
		for i := 0; i < T; i++ {
			for j := 0; j < T; j++ {
				if j > i || !b.Mask[bi*K+j/tokensPerStep] {
					mask[i*T+j] = -1e9
				}
			}
		}
		maskN := r.constant(T, T, mask)
		for l := 0; l < cfg.Layers; l++ {
			pre := fmt.Sprintf("blocks.%d.", l)
			h := r.layerNorm(x, pre+"ln1", T, C)
			q := r.linear(h, pre+"attn.q", T)
			kk := r.linear(h, pre+"attn.k", T)
			v := r.linear(h, pre+"attn.v", T)
			heads := make([]*G.Node, H)
			for hh := 0; hh < H; hh++ {
				cols := G.S(hh*hd, (hh+1)*hd)
				qh := G.Must(G.Slice(q, nil, cols))
				kh := G.Must(G.Slice(kk, nil, cols))
				vh := G.Must(G.Slice(v, nil, cols))
				sc := G.Must(G.Mul(G.Must(G.Mul(qh, G.Must(G.Transpose(kh)))), G.NewConstant(1/math.Sqrt(float64(hd)))))
				att := G.Must(G.SoftMax(G.Must(G.Add(sc, maskN))))
				heads[hh] = G.Must(G.Mul(att, vh))
			}
			y := heads[0]
			if H > 1 {
				y = G.Must(G.Concat(1, heads...))
			}
			x = G.Must(G.Add(x, r.linear(y, pre+"attn.o", T)))
			h = r.linear(r.layerNorm(x, pre+"ln2", T, C), pre+"mlp.fc", T)
			if cfg.Activation == ActGELU {
				h = gelu(h)
			} else {
				h = G.Must(G.Rectify(h))
			}
			x = G.Must(G.Add(x, r.linear(h, pre+"mlp.proj", T)))
		}
		x = r.layerNorm(x, "ln_f", T, C)
		sel := make([]float64, K*T)
		for k := 0; k < K; k++ {
			sel[k*T+tokensPerStep*k+1] = 1 // the state token of step k
		}
		out := r.linear(G.Must(G.Mul(r.constant(K, T, sel), x)), "head", K)
		predNodes = append(predNodes, out)
		l, nll, ent := r.headLoss(out, m, b, bi, nReal, lambda)
		add(&total, l)
		if nll != nil {
			add(&nllSum, nll)
			add(&entSum, ent)
		}
	}
	names := make([]string, 0, len(r.params))
	nodes := make([]*G.Node, 0, len(r.params))
	for _, p := range m.Params().All() {
		if p.Trainable() {
			names = append(names, p.Name)
			nodes = append(nodes, r.params[p.Name])
		}
	}
	if _, err := G.Grad(total, nodes...); err != nil {
		return nil, err
	}
	vm := G.NewTapeMachine(r.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return nil, err
	}
	res := &refLoss{loss: total.Value().Data().(float64), grads: map[string][]float64{}}
	if nllSum != nil {
		res.nll = nllSum.Value().Data().(float64)
		res.entropy = entSum.Value().Data().(float64)
	}
	for i, n := range nodes {
		gv, err := n.Grad()
		if err != nil {
			return nil, fmt.Errorf("grad of %s: %w", names[i], err)
		}
		res.grads[names[i]] = append([]float64(nil), gv.Data().([]float64)...)
	}
	for _, pn := range predNodes {
		res.preds = append(res.preds, append([]float64(nil), pn.Value().Data().([]float64)...))
	}
	return res, nil
}

// normAction maps a continuous action from [low, high] to [-1, 1].
func normAction(a float64, sp ActionSpace, d int) float64 {
	lo, hi := float64(sp.Low[d]), float64(sp.High[d])
	return 2*(a-lo)/(hi-lo) - 1
}

// headLoss adds batch element bi's share of the loss: out (K, O) is the head output at
// the state tokens. It returns the loss term and, for the categorical and Gaussian
// heads, the NLL and entropy terms (means over all nReal real steps of the batch).
func (r *refDT) headLoss(out *G.Node, m *Model, b *Batch, bi, nReal int, lambda float64) (loss, nll, ent *G.Node) {
	cfg := r.cfg
	K, A := cfg.Context, cfg.Action.Width()
	inv := G.NewConstant(1 / float64(nReal))
	realRows := func(width int, val func(k, j int) float64) *G.Node {
		d := make([]float64, K*width)
		for k := 0; k < K; k++ {
			if b.Mask[bi*K+k] {
				for j := 0; j < width; j++ {
					d[k*width+j] = val(k, j)
				}
			}
		}
		return r.constant(K, width, d)
	}
	target := func(k, d int) float64 { return normAction(float64(b.Actions[(bi*K+k)*A+d]), cfg.Action, d) }
	switch cfg.Head {
	case HeadCategorical:
		n := cfg.Action.Discrete
		pick := realRows(n, func(k, j int) float64 {
			if int(b.Actions[bi*K+k]) == j {
				return 1
			}
			return 0
		})
		logp := G.Must(G.Log(G.Must(G.SoftMax(out))))
		// p as exp(log p), its own node: using the softmax node for both p and log p
		// gave wrong values with gorgonia v0.9.18.
		probs := G.Must(G.Exp(logp))
		nll = G.Must(G.Neg(G.Must(G.Mul(inv, G.Must(G.Sum(G.Must(G.HadamardProd(logp, pick))))))))
		// Exact entropy −Σ p log p of each real step's softmax, averaged.
		w := realRows(n, func(int, int) float64 { return 1 })
		ent = G.Must(G.Neg(G.Must(G.Mul(inv, G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.HadamardProd(probs, logp)), w))))))))
		loss = G.Must(G.Sub(nll, G.Must(G.Mul(G.NewConstant(lambda), ent))))
		return loss, nll, ent
	case HeadDeterministic:
		diff := G.Must(G.Sub(G.Must(G.Tanh(out)), realRows(A, target)))
		w := realRows(A, func(int, int) float64 { return 1 })
		sq := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Square(diff)), w))))
		return G.Must(G.Mul(G.NewConstant(1/float64(nReal*A)), sq)), nil, nil
	}
	// Gaussian: the formulas of nn's tanh-Gaussian, written out.
	c := 0.5 * math.Log(2*math.Pi)
	mu := G.Must(G.Slice(out, nil, G.S(0, A)))
	raw := G.Must(G.Slice(out, nil, G.S(A, 2*A)))
	ls := G.Must(G.Add(G.NewConstant(logStdMin), G.Must(G.Mul(G.NewConstant(0.5*(logStdMax-logStdMin)),
		G.Must(G.Add(G.Must(G.Tanh(raw)), G.NewConstant(1.0)))))))
	sigma := G.Must(G.Exp(ls))
	w := realRows(A, func(int, int) float64 { return 1 })
	clip := func(a float64) float64 { return math.Max(-(1 - 1e-6), math.Min(1-1e-6, a)) }
	u := realRows(A, func(k, d int) float64 { return math.Atanh(clip(target(k, d))) })
	// ½log2π + log(1 − tanh²u) of the data, a constant.
	jac := realRows(A, func(k, d int) float64 {
		t := clip(target(k, d))
		return c + math.Log(1-t*t)
	})
	z := G.Must(G.HadamardDiv(G.Must(G.Sub(u, mu)), sigma))
	// −log p per element = ½z² + log σ + ½log2π + log(1 − tanh²u)
	negLogp := G.Must(G.Add(G.Must(G.Add(G.Must(G.Mul(G.NewConstant(0.5), G.Must(G.Square(z)))), ls)), jac))
	nll = G.Must(G.Mul(inv, G.Must(G.Sum(G.Must(G.HadamardProd(negLogp, w))))))
	// β-NLL: each component's term weighted by σ^2β, a constant of the graph (the
	// stop-gradient of Seitzer et al. 2022), taken from the model's forward σ.
	fit := nll
	if beta := cfg.NLLBeta; beta != 0 {
		wb := realRows(A, func(k, d int) float64 { return math.Exp(2 * beta * float64(m.buf.logStd[(bi*K+k)*A+d])) })
		fit = G.Must(G.Mul(inv, G.Must(G.Sum(G.Must(G.HadamardProd(negLogp, wb))))))
	}
	eps := realRows(A, func(k, d int) float64 { return float64(m.buf.eps[(bi*K+k)*A+d]) })
	// ½ε² + ½log2π, a constant.
	half := realRows(A, func(k, d int) float64 {
		e := float64(m.buf.eps[(bi*K+k)*A+d])
		return 0.5*e*e + c
	})
	us := G.Must(G.Add(mu, G.Must(G.HadamardProd(sigma, eps))))
	th := G.Must(G.Tanh(us))
	logJac := G.Must(G.Log(G.Must(G.Sub(G.NewConstant(1.0), G.Must(G.Square(th))))))
	// entropy sample per element = ½ε² + log σ + ½log2π + log(1 − tanh²(μ + σε))
	entElem := G.Must(G.Add(G.Must(G.Add(half, ls)), logJac))
	ent = G.Must(G.Mul(inv, G.Must(G.Sum(G.Must(G.HadamardProd(entElem, w))))))
	loss = G.Must(G.Sub(fit, G.Must(G.Mul(G.NewConstant(lambda), ent))))
	return loss, nll, ent
}
