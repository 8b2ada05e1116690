package nn

import (
	"math/rand/v2"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
)

// lowRank is a minimal LoRA-shaped Adapter for the tests: y += s·(x·Aᵀ)·Bᵀ with
// A (r, in), B (out, r), written with plain loops so it is independent of Linear.
type lowRank struct {
	in, out, r int
	s          float32
	A, B       *Param
	h          []float32 // (n, r) = x·Aᵀ, kept for Backward
}

func (a *lowRank) Forward(x, y []float32, n int) {
	a.h = make([]float32, n*a.r)
	for i := 0; i < n; i++ {
		for k := 0; k < a.r; k++ {
			var s float32
			for j := 0; j < a.in; j++ {
				s += x[i*a.in+j] * a.A.Data[k*a.in+j]
			}
			a.h[i*a.r+k] = s
		}
		for o := 0; o < a.out; o++ {
			var s float32
			for k := 0; k < a.r; k++ {
				s += a.h[i*a.r+k] * a.B.Data[o*a.r+k]
			}
			y[i*a.out+o] += a.s * s
		}
	}
}

func (a *lowRank) Backward(x, dy, dx []float32, n int) {
	dh := make([]float32, n*a.r)
	for i := 0; i < n; i++ {
		for k := 0; k < a.r; k++ {
			for o := 0; o < a.out; o++ {
				g := a.s * dy[i*a.out+o]
				dh[i*a.r+k] += g * a.B.Data[o*a.r+k]
				a.B.Grad[o*a.r+k] += g * a.h[i*a.r+k]
			}
		}
		for k := 0; k < a.r; k++ {
			for j := 0; j < a.in; j++ {
				a.A.Grad[k*a.in+j] += dh[i*a.r+k] * x[i*a.in+j]
				if dx != nil {
					dx[i*a.in+j] += dh[i*a.r+k] * a.A.Data[k*a.in+j]
				}
			}
		}
	}
}

type recordingObserver struct {
	calls int
	x     []float32
	n, in int
	mask  []bool
}

func (o *recordingObserver) Observe(x []float32, n, in int, mask []bool) {
	o.calls++
	o.x, o.n, o.in, o.mask = slices.Clone(x), n, in, slices.Clone(mask)
}

func TestLinearMatchesGorgonia(t *testing.T) {
	const n, in, out, r = 5, 4, 3, 2
	tests := []struct {
		name     string
		bias     bool
		frozenW  bool
		noDx     bool
		adapter  bool
		prefillG bool // gradients start non-zero: Backward must add, not overwrite
	}{
		{name: "bias", bias: true},
		{name: "no bias", bias: false},
		{name: "frozen weight", bias: true, frozenW: true},
		{name: "no input gradient", bias: true, noDx: true},
		{name: "accumulates", bias: true, prefillG: true},
		{name: "adapter on frozen base", bias: true, frozenW: true, adapter: true},
		{name: "adapter without dx", bias: false, adapter: true, noDx: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			l := NewLinear("blocks.0.attn.q", in, out, tc.bias, loopGemm{})
			l.InitUniform(rng)
			if tc.frozenW {
				l.W.SetTrainable(false)
			}
			var ad *lowRank
			if tc.adapter {
				ad = &lowRank{in: in, out: out, r: r, s: 0.5,
					A: NewParam("A", r, in), B: NewParam("B", out, r)}
				copy(ad.A.Data, randn(rng, r*in, 1))
				copy(ad.B.Data, randn(rng, out*r, 1))
				l.Adapter = ad
			}
			x := randn(rng, n*in, 1)
			dy := randn(rng, n*out, 1)
			var pre []float32
			if tc.prefillG {
				pre = randn(rng, len(l.W.Grad), 1)
				copy(l.W.Grad, pre)
			}

			y := make([]float32, n*out)
			l.Forward(x, y, n, nil)
			var dx []float32
			if !tc.noDx {
				dx = make([]float32, n*in)
			}
			l.Backward(x, dy, dx, n)

			g := G.NewGraph()
			xn := gNode(g, "x", x, n, in)
			wn := gNode(g, "w", l.W.Data, out, in)
			yn := G.Must(G.Mul(xn, G.Must(G.Transpose(wn))))
			wrt := []*G.Node{xn, wn}
			var bn, an, bbn *G.Node
			if tc.bias {
				bn = gNode(g, "b", l.B.Data, out)
				yn = G.Must(G.BroadcastAdd(yn, bn, nil, []byte{0}))
				wrt = append(wrt, bn)
			}
			if tc.adapter {
				an = gNode(g, "A", ad.A.Data, r, in)
				bbn = gNode(g, "B", ad.B.Data, out, r)
				h := G.Must(G.Mul(xn, G.Must(G.Transpose(an))))
				lr := G.Must(G.Mul(h, G.Must(G.Transpose(bbn))))
				yn = G.Must(G.Add(yn, G.Must(G.Mul(lr, G.NewConstant(0.5)))))
				wrt = append(wrt, an, bbn)
			}
			grads := gRun(t, g, gWeighted(g, yn, dy), wrt...)

			assertClose(t, "y", y, gValue(yn), oracleAtol, oracleRtol)
			if tc.noDx {
				if dx != nil {
					t.Fatal("dx allocated")
				}
			} else {
				assertClose(t, "dx", dx, grads[0], oracleAtol, oracleRtol)
			}
			if tc.frozenW {
				if l.W.Grad != nil {
					t.Error("frozen weight got a gradient buffer")
				}
			} else {
				want := grads[1]
				for i := range pre {
					want[i] += float64(pre[i])
				}
				assertClose(t, "dW", l.W.Grad, want, oracleAtol, oracleRtol)
			}
			k := 2
			if tc.bias {
				assertClose(t, "db", l.B.Grad, grads[k], oracleAtol, oracleRtol)
				k++
			}
			if tc.adapter {
				assertClose(t, "dA", ad.A.Grad, grads[k], oracleAtol, oracleRtol)
				assertClose(t, "dB", ad.B.Grad, grads[k+1], oracleAtol, oracleRtol)
			}
		})
	}
}

func TestLinearObserverSeesInputAndMask(t *testing.T) {
	const n, in, out = 3, 4, 2
	rng := rand.New(rand.NewPCG(3, 4))
	l := NewLinear("fc", in, out, true, loopGemm{})
	obs := &recordingObserver{}
	l.Observer = obs
	x := randn(rng, n*in, 1)
	mask := []bool{false, true, true}
	l.Forward(x, make([]float32, n*out), n, mask)
	if obs.calls != 1 || obs.n != n || obs.in != in {
		t.Fatalf("observer calls=%d n=%d in=%d, want 1, %d, %d", obs.calls, obs.n, obs.in, n, in)
	}
	if !slices.Equal(obs.x, x) || !slices.Equal(obs.mask, mask) {
		t.Errorf("observer saw x=%v mask=%v, want %v %v", obs.x, obs.mask, x, mask)
	}
	l.Forward(x, make([]float32, n*out), n, nil)
	if obs.calls != 2 || obs.mask != nil {
		t.Errorf("second call: calls=%d mask=%v, want 2, nil", obs.calls, obs.mask)
	}
}

func TestLinearForwardNaiveTwin(t *testing.T) {
	const n, in, out = 7, 5, 6
	rng := rand.New(rand.NewPCG(5, 6))
	l := NewLinear("fc", in, out, true, loopGemm{})
	l.InitUniform(rng)
	x := randn(rng, n*in, 1)
	got := make([]float32, n*out)
	l.Forward(x, got, n, nil)
	want := make([]float32, n*out)
	linearForwardNaive(x, l.W.Data, l.B.Data, want, n, in, out)
	assertClose(t, "y", got, to64(want), 1e-6, 1e-6)
}

// Shape mismatches are programming errors: every kernel panics with a message that
// starts with "nn: " and names what is wrong.
func TestKernelsPanicOnBadShapes(t *testing.T) {
	lin := NewLinear("fc", 4, 3, true, loopGemm{})
	ln := NewLayerNorm("ln", 4)
	emb := NewEmbedding("wte", 5, 2)
	att := NewAttention("attn", 8, 2, loopGemm{})
	tests := []struct {
		name string
		fn   func()
	}{
		{"linear short y", func() { lin.Forward(make([]float32, 8), make([]float32, 5), 2, nil) }},
		{"linear short mask", func() { lin.Forward(make([]float32, 8), make([]float32, 6), 2, []bool{true}) }},
		{"linear short dx", func() { lin.Backward(make([]float32, 8), make([]float32, 6), make([]float32, 7), 2) }},
		{"layernorm short y", func() { ln.Forward(make([]float32, 8), make([]float32, 7), 2) }},
		{"embedding id out of range", func() { emb.Forward([]int{0, 5}, make([]float32, 4), nil) }},
		{"attention heads", func() { NewAttention("a", 10, 4, loopGemm{}) }},
		{"attention short out", func() { att.Forward(make([]float32, 16), make([]float32, 15), 1, 2, nil) }},
		{"attention backward shape", func() {
			att.Forward(make([]float32, 16), make([]float32, 16), 1, 2, nil)
			att.Backward(make([]float32, 32), make([]float32, 32), nil, 2, 2)
		}},
		{"dropout probability", func() { NewDropout(1, rand.New(rand.NewPCG(1, 1))) }},
		{"cross-entropy target", func() {
			var ce CrossEntropy
			ce.Forward(make([]float32, 4), []int{0, 2}, nil, 2, 2)
		}},
		{"mse short target", func() { MSEForward(make([]float32, 4), make([]float32, 3), nil, 2, 2) }},
		{"gaussian short logp", func() {
			TanhGaussianLogProb(make([]float32, 4), make([]float32, 4), make([]float32, 4), make([]float32, 1), 2, 2)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, ok := r.(string)
				if !ok || len(msg) < 4 || msg[:4] != "nn: " {
					t.Errorf("panic %v, want a string starting with \"nn: \"", r)
				}
			}()
			tc.fn()
		})
	}
}
