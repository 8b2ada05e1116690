package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// gorgonia has no LayerNorm op: the reference composes it from mean, square and
// square root, the definition in Ba et al. 2016.
func TestLayerNormMatchesGorgonia(t *testing.T) {
	const n, c = 6, 8
	tests := []struct {
		name   string
		frozen bool
		noDx   bool
	}{
		{name: "trainable"},
		{name: "frozen", frozen: true},
		{name: "no input gradient", noDx: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			ln := NewLayerNorm("ln_1", c)
			copy(ln.W.Data, randn(rng, c, 1))
			copy(ln.B.Data, randn(rng, c, 1))
			if tc.frozen {
				ln.W.SetTrainable(false)
				ln.B.SetTrainable(false)
			}
			x := randn(rng, n*c, 2)
			for i := range x[:c] {
				x[i] += 5 // a row far from zero mean
			}
			dy := randn(rng, n*c, 1)
			y := make([]float32, n*c)
			ln.Forward(x, y, n)
			var dx []float32
			if !tc.noDx {
				dx = make([]float32, n*c)
			}
			ln.Backward(x, dy, dx, n)

			g := G.NewGraph()
			xn := gNode(g, "x", x, n, c)
			wn := gNode(g, "w", ln.W.Data, c)
			bn := gNode(g, "b", ln.B.Data, c)
			// Row means as a product with J = 1/c (c, c), which repeats each row's mean
			// across its columns. 1/√· is Inverse(Sqrt(·)): gorgonia v0.9.18's
			// InverseSqrt has a wrong derivative (2.07 where −½x^−1.5·r = 0.15).
			jm := make([]float64, c*c)
			for i := range jm {
				jm[i] = 1.0 / c
			}
			j := gConst("J", jm, c, c)
			xc := G.Must(G.Sub(xn, G.Must(G.Mul(xn, j))))
			rstd := G.Must(G.Inverse(G.Must(G.Sqrt(gAddS(G.Must(G.Mul(G.Must(G.Square(xc)), j)), 1e-5)))))
			norm := G.Must(G.HadamardProd(xc, rstd))
			yn := G.Must(G.BroadcastAdd(G.Must(G.BroadcastHadamardProd(norm, wn, nil, []byte{0})), bn, nil, []byte{0}))
			grads := gRun(t, g, gWeighted(g, yn, dy), xn, wn, bn)

			assertClose(t, "y", y, gValue(yn), oracleAtol, oracleRtol)
			if !tc.noDx {
				assertClose(t, "dx", dx, grads[0], oracleAtol, oracleRtol)
			}
			if tc.frozen {
				if ln.W.Grad != nil || ln.B.Grad != nil {
					t.Fatal("frozen parameters got gradient buffers")
				}
				return
			}
			assertClose(t, "dw", ln.W.Grad, grads[1], oracleAtol, oracleRtol)
			assertClose(t, "db", ln.B.Grad, grads[2], oracleAtol, oracleRtol)
		})
	}
}

// TestLayerNormNaiveTwin holds the kernels to the textbook formulas in float64, for
// widths around the unrolled loops' steps and for enough rows to be split across the
// workers (both with trainable parameters, summed serially, and frozen ones).
func TestLayerNormNaiveTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range []int{1, 3, 4, 7, 64} {
		for _, frozen := range []bool{false, true} {
			n := 3
			if c == 64 {
				n = 2*ParallelMinElems/c + 5
			}
			ln := NewLayerNorm("ln", c)
			copy(ln.W.Data, randn(rng, c, 1))
			copy(ln.B.Data, randn(rng, c, 1))
			x, dy := randn(rng, n*c, 2), randn(rng, n*c, 1)
			for i := range x {
				x[i] += 3
			}
			dx0 := randn(rng, n*c, 1)
			y, dx := make([]float32, n*c), append([]float32(nil), dx0...)
			wantY, wantDx := make([]float32, n*c), append([]float32(nil), dx0...)
			wantDw, wantDb := make([]float32, c), make([]float32, c)
			layerNormNaive(x, wantY, dy, wantDx, ln.W.Data, ln.B.Data, wantDw, wantDb, n, c, ln.Eps)
			if frozen {
				ln.W.SetTrainable(false)
				ln.B.SetTrainable(false)
			}
			ln.Forward(x, y, n)
			ln.Backward(x, dy, dx, n)
			assertClose(t, "y", y, to64(wantY), 1e-5, 1e-5)
			assertClose(t, "dx", dx, to64(wantDx), 1e-5, 1e-4)
			if !frozen {
				assertClose(t, "dw", ln.W.Grad, to64(wantDw), 1e-4, 1e-4)
				assertClose(t, "db", ln.B.Grad, to64(wantDb), 1e-4, 1e-4)
			}
		}
	}
}
