package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
)

// newTestAttention returns a layer with random weights and biases on the loop Gemm.
func newTestAttention(seed uint64, c, nHead int) *Attention {
	rng := rand.New(rand.NewPCG(seed, 1))
	a := NewAttention("blocks.0.attn", c, nHead, loopGemm{})
	for _, l := range []*Linear{a.Q, a.K, a.V, a.O} {
		l.InitUniform(rng)
	}
	return a
}

// gAttention builds the same attention in gorgonia: per (batch, head) slices of q, k,
// v, scores plus a mask of 0 (allowed) or −1e9 (masked), softmax composed from
// exp/sum/div, times a row indicator that zeroes queries with no key at all.
// Constants get unique names: gorgonia merges constant nodes of equal name and shape.
//
// With attention dropout active, the mask the kernel drew (Drop.lastMask) is applied as
// a constant. Adapters of type *lowRank add s·(x·Aᵀ)·Bᵀ; their A and B nodes are
// returned in adapters, in the order q, k, v, o.
func gAttention(g *G.ExprGraph, a *Attention, x *G.Node, b, t int, mask []bool) (out *G.Node, params, adapters []*G.Node) {
	c, hs := a.C, a.C/a.NHead
	proj := func(l *Linear, in *G.Node) *G.Node {
		w := gNode(g, l.Name+".weight", l.W.Data, c, c)
		bias := gNode(g, l.Name+".bias", l.B.Data, c)
		params = append(params, w, bias)
		y := G.Must(G.BroadcastAdd(G.Must(G.Mul(in, G.Must(G.Transpose(w)))), bias, nil, []byte{0}))
		if lr, ok := l.Adapter.(*lowRank); ok {
			an := gNode(g, l.Name+".A", lr.A.Data, lr.r, lr.in)
			bn := gNode(g, l.Name+".B", lr.B.Data, lr.out, lr.r)
			h := G.Must(G.Mul(in, G.Must(G.Transpose(an))))
			y = G.Must(G.Add(y, gMulS(G.Must(G.Mul(h, G.Must(G.Transpose(bn)))), float64(lr.s))))
			adapters = append(adapters, an, bn)
		}
		return y
	}
	q, k, v := proj(a.Q, x), proj(a.K, x), proj(a.V, x)
	var rows []*G.Node
	for bi := 0; bi < b; bi++ {
		add, keepRow := make([]float64, t*t), make([]float64, t*t)
		for i := 0; i < t; i++ {
			any := false
			for j := 0; j <= i; j++ {
				any = any || mask == nil || mask[bi*t+j]
			}
			for j := 0; j < t; j++ {
				allowed := j <= i && (mask == nil || mask[bi*t+j])
				if any && !allowed {
					add[i*t+j] = -1e9
				}
				if any {
					keepRow[i*t+j] = 1
				}
			}
		}
		var heads []*G.Node
		for h := 0; h < a.NHead; h++ {
			rs, cs := G.S(bi*t, (bi+1)*t), G.S(h*hs, (h+1)*hs)
			qh, kh, vh := G.Must(G.Slice(q, rs, cs)), G.Must(G.Slice(k, rs, cs)), G.Must(G.Slice(v, rs, cs))
			s := gMulS(G.Must(G.Mul(qh, G.Must(G.Transpose(kh)))), 1/math.Sqrt(float64(hs)))
			e := G.Must(G.Exp(G.Must(G.Add(s, gConst(fmt.Sprintf("mask%d.%d", bi, h), add, t, t)))))
			p := G.Must(G.BroadcastHadamardDiv(e, G.Must(G.Sum(e, 1)), nil, []byte{1}))
			p = G.Must(G.HadamardProd(p, gConst(fmt.Sprintf("rows%d.%d", bi, h), keepRow, t, t)))
			if a.dropping() {
				bh := bi*a.NHead + h
				p = G.Must(G.HadamardProd(p, gConst(fmt.Sprintf("drop%d", bh), to64(a.Drop.lastMask()[bh*t*t:(bh+1)*t*t]), t, t)))
			}
			heads = append(heads, G.Must(G.Mul(p, vh)))
		}
		rows = append(rows, G.Must(G.Concat(1, heads...)))
	}
	y := G.Must(G.Concat(0, rows...))
	out = proj(a.O, y)
	return out, params, adapters
}

func TestAttentionMatchesGorgonia(t *testing.T) {
	const b, tt, c, nHead = 2, 5, 8, 2
	// Batch 1 is left-padded: its first two queries have no key to attend to.
	padded := []bool{true, true, true, true, true, false, false, true, true, true}
	tests := []struct {
		name    string
		mask    []bool
		frozen  bool // every projection frozen: only dx and adapters' gradients flow
		noDx    bool
		adapter bool    // low-rank adapters on q and v
		drop    float32 // attention dropout probability
	}{
		{name: "no mask", mask: nil},
		{name: "padding", mask: padded},
		{name: "frozen projections", mask: padded, frozen: true},
		{name: "no input gradient", mask: padded, noDx: true},
		{name: "adapters on frozen q and v, no dx", mask: padded, frozen: true, noDx: true, adapter: true},
		{name: "attention dropout", mask: padded, drop: 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAttention(31, c, nHead)
			if tc.frozen {
				for _, p := range a.Params() {
					p.SetTrainable(false)
				}
			}
			rng := rand.New(rand.NewPCG(32, 33))
			var ads []*lowRank
			if tc.adapter {
				for _, l := range []*Linear{a.Q, a.V} {
					ad := &lowRank{in: c, out: c, r: 2, s: 0.5, A: NewParam("A", 2, c), B: NewParam("B", c, 2)}
					copy(ad.A.Data, randn(rng, 2*c, 1))
					copy(ad.B.Data, randn(rng, c*2, 1))
					l.Adapter = ad
					ads = append(ads, ad)
				}
			}
			if tc.drop > 0 {
				a.Drop = NewDropout(tc.drop, rand.New(rand.NewPCG(40, 41)))
			}
			x := randn(rng, b*tt*c, 1)
			dout := randn(rng, b*tt*c, 1)
			out := make([]float32, b*tt*c)
			a.Forward(x, out, b, tt, tc.mask)
			var dx []float32
			if !tc.noDx {
				dx = make([]float32, b*tt*c)
			}
			a.Backward(x, dout, dx, b, tt)

			g := G.NewGraph()
			xn := gNode(g, "x", x, b*tt, c)
			outn, params, adNodes := gAttention(g, a, xn, b, tt, tc.mask)
			wrt := append(append([]*G.Node{xn}, params...), adNodes...)
			grads := gRun(t, g, gWeighted(g, outn, dout), wrt...)

			assertClose(t, "out", out, gValue(outn), oracleAtol, oracleRtol)
			if !tc.noDx {
				assertClose(t, "dx", dx, grads[0], oracleAtol, oracleRtol)
			}
			for i, p := range a.Params() {
				if tc.frozen {
					if p.Grad != nil {
						t.Fatalf("%s: frozen parameter has a gradient", p.Name)
					}
					continue
				}
				assertClose(t, "d"+p.Name, p.Grad, grads[i+1], oracleAtol, oracleRtol)
			}
			for i, ad := range ads {
				k := 1 + len(params) + 2*i
				assertClose(t, "adapter dA", ad.A.Grad, grads[k], oracleAtol, oracleRtol)
				assertClose(t, "adapter dB", ad.B.Grad, grads[k+1], oracleAtol, oracleRtol)
			}
		})
	}
}

// Masked positions receive exactly zero attention, every kept row sums to one, and
// queries with nothing to attend to have an all-zero row.
func TestAttentionMaskedWeightsAreZero(t *testing.T) {
	const b, tt, c, nHead = 2, 6, 8, 2
	mask := []bool{true, false, true, true, false, true, false, false, true, true, true, true}
	a := newTestAttention(34, c, nHead)
	x := randn(rand.New(rand.NewPCG(35, 36)), b*tt*c, 1)
	a.Forward(x, make([]float32, b*tt*c), b, tt, mask)
	for bi := 0; bi < b; bi++ {
		for h := 0; h < nHead; h++ {
			for i := 0; i < tt; i++ {
				row := a.att[((bi*nHead+h)*tt+i)*tt:][:tt]
				var sum float64
				hasKey := false
				for j, p := range row {
					allowed := j <= i && mask[bi*tt+j]
					hasKey = hasKey || allowed
					if !allowed && p != 0 {
						t.Errorf("b%d h%d: att[%d][%d] = %v, want 0 (masked)", bi, h, i, j, p)
					}
					sum += float64(p)
				}
				want := 0.0
				if hasKey {
					want = 1
				}
				if math.Abs(sum-want) > 1e-6 {
					t.Errorf("b%d h%d row %d sums to %v, want %v", bi, h, i, sum, want)
				}
			}
		}
	}
}

// Changing a padding token's input, or a later token's, leaves every other real
// token's output bit-identical: the padding and causal masks hold in the output, not
// just in the weights.
func TestAttentionIsolation(t *testing.T) {
	const b, tt, c, nHead = 2, 5, 8, 2
	// Batch 1 has a padding token in the middle (position 2): as a query it still
	// attends to positions 0 and 1, so its own output moves when its input does.
	mask := []bool{true, true, true, true, true, true, true, false, true, true}
	a := newTestAttention(37, c, nHead)
	x := randn(rand.New(rand.NewPCG(38, 39)), b*tt*c, 1)
	base := make([]float32, b*tt*c)
	a.Forward(x, base, b, tt, mask)
	row := func(out []float32, bi, i int) []float32 { return out[(bi*tt+i)*c:][:c] }
	tests := []struct {
		name      string
		bi, pos   int      // the token whose input changes
		unchanged [][2]int // (batch, position) outputs that must not move
	}{
		{name: "padding token", bi: 1, pos: 2, unchanged: [][2]int{{1, 0}, {1, 1}, {1, 3}, {1, 4}, {0, 0}, {0, 4}}},
		{name: "future token", bi: 0, pos: 3, unchanged: [][2]int{{0, 0}, {0, 1}, {0, 2}, {1, 4}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x2 := slices.Clone(x)
			for i := range c {
				x2[(tc.bi*tt+tc.pos)*c+i] += 10
			}
			out := make([]float32, b*tt*c)
			a.Forward(x2, out, b, tt, mask)
			for _, u := range tc.unchanged {
				if !slices.Equal(row(out, u[0], u[1]), row(base, u[0], u[1])) {
					t.Errorf("output of (b%d, t%d) changed", u[0], u[1])
				}
			}
			if slices.Equal(row(out, tc.bi, tc.pos), row(base, tc.bi, tc.pos)) {
				t.Errorf("output of the changed token (b%d, t%d) did not change: the test is vacuous", tc.bi, tc.pos)
			}
		})
	}
}

// The Gemm-and-goroutines head work equals the plain-loop twin on a shape big
// enough to be split across workers.
func TestAttentionNaiveTwin(t *testing.T) {
	const b, tt, c, nHead = 3, 7, 12, 3
	mask := make([]bool, b*tt)
	for i := range mask {
		mask[i] = i%tt >= i/tt // sequence s has s left-padding tokens
	}
	a := newTestAttention(43, c, nHead)
	x := randn(rand.New(rand.NewPCG(44, 45)), b*tt*c, 1)
	a.Forward(x, make([]float32, b*tt*c), b, tt, mask)
	want := make([]float32, b*tt*c)
	attentionNaive(a.q, a.k, a.v, want, b, tt, c, nHead, mask)
	assertClose(t, "y", a.y, to64(want), 1e-6, 1e-5)
}

// TestAttentionForwardSeqs: on packed sequences (the real tokens of left-padded
// windows, one after another), ForwardSeqs gives the rows Forward gives those tokens
// with the padding masked, and ForwardSeqsAt gives one of those rows per sequence,
// for every position, with an adapter on a projection; Backward after either is
// refused.
func TestAttentionForwardSeqs(t *testing.T) {
	const b, tt, c, nHead = 3, 5, 8, 2
	lens := []int{5, 3, 1} // real tokens at the end of each window
	mask := make([]bool, b*tt)
	for bi, l := range lens {
		for j := tt - l; j < tt; j++ {
			mask[bi*tt+j] = true
		}
	}
	a := newTestAttention(41, c, nHead)
	rng := rand.New(rand.NewPCG(42, 43))
	ad := &lowRank{in: c, out: c, r: 2, s: 0.5, A: NewParam("A", 2, c), B: NewParam("B", c, 2)}
	copy(ad.A.Data, randn(rng, 2*c, 1))
	copy(ad.B.Data, randn(rng, 2*c, 1))
	a.Q.Adapter = ad
	x := randn(rng, b*tt*c, 1)
	full := make([]float32, b*tt*c)
	a.Forward(x, full, b, tt, mask)

	// Pack the real rows.
	var packed []float32
	var want [][]float32 // per packed row, Forward's output
	seqs := []int{0}
	for bi, l := range lens {
		for j := tt - l; j < tt; j++ {
			r := bi*tt + j
			packed = append(packed, x[r*c:(r+1)*c]...)
			want = append(want, full[r*c:(r+1)*c])
		}
		seqs = append(seqs, seqs[len(seqs)-1]+l)
	}
	n := seqs[b]
	got := make([]float32, n*c)
	a.ForwardSeqs(packed, got, seqs)
	for r := 0; r < n; r++ {
		assertClose(t, fmt.Sprintf("ForwardSeqs row %d", r), got[r*c:(r+1)*c], to64(want[r]), 1e-6, 1e-5)
	}
	for pos := 0; pos < tt; pos++ {
		at := make([]int, b)
		for i := range at {
			at[i] = min(seqs[i]+pos, seqs[i+1]-1)
		}
		out := make([]float32, b*c)
		a.ForwardSeqsAt(packed, out, seqs, at)
		for i, r := range at {
			assertClose(t, fmt.Sprintf("ForwardSeqsAt pos %d seq %d", pos, i), out[i*c:(i+1)*c], to64(want[r]), 1e-6, 1e-5)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Backward after ForwardSeqsAt did not panic")
		}
	}()
	a.Backward(x, full, nil, b, tt)
}
