package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/evarl/evarl/nn"
)

// The gorgonia graphs below are independent float64 statements of the layers'
// functions (PEFT's formulas), differentiated by gorgonia's autodiff; the hand-written
// float32 kernels must match them to the relative tolerance of assertClose (1e-4,
// floor 1e-3). DoRA's norm is detached as in PEFT and the paper's section 4.3, so
// the oracle holds it as a constant computed in float64 from W, A and B.

// oracle is a float64 gorgonia graph with helpers to make nodes.
type oracle struct {
	t *testing.T
	g *G.ExprGraph
}

func newOracle(t *testing.T) *oracle { return &oracle{t: t, g: G.NewGraph()} }

func (o *oracle) node(name string, v []float32, shape ...int) *G.Node {
	d := make([]float64, len(v))
	for i, f := range v {
		d[i] = float64(f)
	}
	return o.node64(name, d, shape...)
}

func (o *oracle) node64(name string, d []float64, shape ...int) *G.Node {
	return G.NewMatrix(o.g, tensor.Float64, G.WithShape(shape...), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), d...)))))
}

// rowBroadcast turns a (1, k) node into (n, k) by ones (n, 1) · v.
func (o *oracle) rowBroadcast(v *G.Node, n int) *G.Node {
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	return G.Must(G.Mul(o.node64("ones", ones, n, 1), v))
}

// grads returns d(Σ y⊙r)/d wrt.
func (o *oracle) grads(y *G.Node, r []float32, wrt ...*G.Node) [][]float64 {
	rn := o.node("r", r, y.Shape()[0], y.Shape()[1])
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
	if _, err := G.Grad(cost, wrt...); err != nil {
		o.t.Fatal(err)
	}
	vm := G.NewTapeMachine(o.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		o.t.Fatal(err)
	}
	out := make([][]float64, len(wrt))
	for i, nd := range wrt {
		v, err := nd.Grad()
		if err != nil {
			o.t.Fatal(err)
		}
		out[i] = append([]float64(nil), v.Data().([]float64)...)
	}
	return out
}

func mul(a, b *G.Node) *G.Node          { return G.Must(G.Mul(a, b)) }
func tr(a *G.Node) *G.Node              { return G.Must(G.Transpose(a)) }
func add(a, b *G.Node) *G.Node          { return G.Must(G.Add(a, b)) }
func had(a, b *G.Node) *G.Node          { return G.Must(G.HadamardProd(a, b)) }
func scal(a *G.Node, s float64) *G.Node { return G.Must(G.Mul(a, G.NewConstant(s))) }

// rowNorms64 returns ‖V_o + s·(B·A)_o‖ for V (out, in), B (out, r), A (r, in), in float64.
func rowNorms64(v, a, b []float32, out, in, r int, s float64) []float64 {
	n := make([]float64, out)
	for o := 0; o < out; o++ {
		var ss float64
		for c := 0; c < in; c++ {
			x := float64(v[o*in+c])
			for j := 0; j < r; j++ {
				x += s * float64(b[o*r+j]) * float64(a[j*in+c])
			}
			ss += x * x
		}
		n[o] = math.Sqrt(ss)
	}
	return n
}

func transpose32(x []float32, rows, cols int) []float32 {
	t := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = x[i*cols+j]
		}
	}
	return t
}

func make1(n int) []float32 {
	o := make([]float32, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

func assertClose(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(float64(got[i])-want[i]) / (1e-3 + math.Abs(want[i]))
		worst = max(worst, d)
		if d > 1e-4 {
			t.Fatalf("%s[%d] = %v, gorgonia %v", what, i, got[i], want[i])
		}
	}
	t.Logf("%s: worst relative error %.2g", what, worst)
}

// LoRA and DoRA on a Linear layer, with and without dropout.
func TestLinearGradientsMatchGorgonia(t *testing.T) {
	const n, in, out, r = 5, 7, 6, 3
	for _, tc := range []struct {
		dora    bool
		dropout float64
	}{{false, 0}, {false, 0.3}, {true, 0}, {true, 0.3}} {
		rng := rand.New(rand.NewPCG(31, 32))
		l := nn.NewLinear("blocks.0.attn.q", in, out, true, nn.GonumGemm{})
		l.InitUniform(rng)
		base := &toyModel{linears: []*nn.Linear{l}}
		base.params.Add(l.Params()...)
		cfg := DefaultConfig()
		cfg.R, cfg.Alpha, cfg.Dropout, cfg.UseDoRA = r, 6, tc.dropout, tc.dora
		cfg.TargetModules = []string{"attn.q"}
		m, err := Apply(base, cfg, Options{Rng: rng})
		if err != nil {
			t.Fatal(err)
		}
		m.SetTrain(true)
		perturbB(m, rng) // B ≠ 0 and M ≠ ‖W‖, so every term is live
		a := m.Adapters[0]
		x := randRows(rng, n*in)
		rr := randRows(rng, n*out)
		y := make([]float32, n*out)
		l.Forward(x, y, n, nil)
		dx := make([]float32, n*in)
		l.Backward(x, rr, dx, n)
		if l.W.Grad != nil {
			t.Fatal("frozen base weight got a gradient buffer")
		}

		mask := make1(n * in)
		if tc.dropout > 0 {
			copy(mask, a.mask)
			zeros := 0
			for _, v := range mask {
				if v == 0 {
					zeros++
				}
			}
			if zeros == 0 || zeros == len(mask) {
				t.Fatalf("dropout %v dropped %d of %d inputs", tc.dropout, zeros, len(mask))
			}
		}
		s := float64(a.Scale)
		o := newOracle(t)
		X, Mk := o.node("x", x, n, in), o.node("mask", mask, n, in)
		W, Bias := o.node("w", l.W.Data, out, in), o.node("b", l.B.Data, 1, out)
		A, B := o.node("A", a.A.Data, r, in), o.node("B", a.B.Data, out, r)
		xd := had(X, Mk)
		baseOut := add(mul(X, tr(W)), o.rowBroadcast(Bias, n))
		lo := scal(mul(mul(xd, tr(A)), tr(B)), s)
		// LoRA: y = x·Wᵀ + b + l
		yn := add(baseOut, lo)
		wrt := []*G.Node{X, A, B}
		if tc.dora {
			// DoRA: y = x·Wᵀ + b + (g − 1)⊙z + g⊙l, z = x_d·Wᵀ, g = m / ‖W + s·B·A‖ (detached)
			Mag := o.node("m", a.M.Data, 1, out)
			Norm := o.node64("norm", rowNorms64(l.W.Data, a.A.Data, a.B.Data, out, in, r, s), 1, out)
			g := o.rowBroadcast(G.Must(G.HadamardDiv(Mag, Norm)), n)
			z := mul(xd, tr(W))
			yn = add(add(baseOut, G.Must(G.Sub(had(g, z), z))), had(g, lo))
			wrt = append(wrt, Mag)
		}
		gr := o.grads(yn, rr, wrt...)
		assertClose(t, "y", y, yn.Value().Data().([]float64))
		assertClose(t, "dx", dx, gr[0])
		assertClose(t, "dA", a.A.Grad, gr[1])
		assertClose(t, "dB", a.B.Grad, gr[2])
		if tc.dora {
			assertClose(t, "dM", a.M.Grad, gr[3])
		}
	}
}

func TestEmbeddingGradientsMatchGorgonia(t *testing.T) {
	const N, C, r = 5, 4, 3
	ids := []int{4, 0, 4, 2, 1, 4} // id 4 three times: gradients accumulate, id 3 never
	n := len(ids)
	for _, dora := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(41, 42))
		e := nn.NewEmbedding("embed_action", N, C)
		e.InitNormal(rng, 1)
		base := &toyModel{tables: []*nn.Embedding{e}}
		base.params.Add(e.Params()...)
		cfg := DefaultConfig()
		cfg.R, cfg.Alpha, cfg.UseDoRA = r, 6, dora
		cfg.TargetModules = []string{"embed_action"}
		m, err := Apply(base, cfg, Options{Rng: rng})
		if err != nil {
			t.Fatal(err)
		}
		perturbB(m, rng)
		a := m.Embeddings[0]
		y := make([]float32, n*C)
		e.Forward(ids, y, nil)
		rr := randRows(rng, n*C)
		e.Backward(ids, rr)
		if e.W.Grad != nil {
			t.Fatal("frozen table got a gradient buffer")
		}

		onehot := make([]float64, n*N)
		for i, id := range ids {
			onehot[i*N+id] = 1
		}
		s := float64(a.Scale)
		o := newOracle(t)
		X := o.node64("onehot", onehot, n, N)
		W := o.node("w", e.W.Data, N, C)
		A, B := o.node("A", a.A.Data, r, N), o.node("B", a.B.Data, C, r)
		// PEFT: after_A = embedding(x, Aᵀ); result += (after_A @ Bᵀ) · scaling
		yn := add(mul(X, W), scal(mul(mul(X, tr(A)), tr(B)), s))
		wrt := []*G.Node{A, B}
		var Mag *G.Node
		if dora {
			// the norm runs over the N rows of each column of W + s·(B·A)ᵀ: V = Wᵀ's rows
			norm := rowNorms64(transpose32(e.W.Data, N, C), a.A.Data, a.B.Data, C, N, r, s)
			Mag = o.node("m", a.M.Data, 1, C)
			g := o.rowBroadcast(G.Must(G.HadamardDiv(Mag, o.node64("norm", norm, 1, C))), n)
			yn = had(g, yn)
			wrt = append(wrt, Mag)
		}
		gr := o.grads(yn, rr, wrt...)
		assertClose(t, "y", y, yn.Value().Data().([]float64))
		assertClose(t, "dA", a.A.Grad, gr[0])
		assertClose(t, "dB", a.B.Grad, gr[1])
		if dora {
			assertClose(t, "dM", a.M.Grad, gr[2])
		}
		for j := 0; j < r; j++ {
			if a.A.Grad[j*N+3] != 0 {
				t.Errorf("dA[%d, id 3] = %v for an id never looked up", j, a.A.Grad[j*N+3])
			}
		}
	}
}
