package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

func TestCrossEntropyMatchesGorgonia(t *testing.T) {
	const n, v = 6, 5
	targets := []int{0, 4, 2, 2, -1, 3} // row 4 is ignored, so its target is never read
	tests := []struct {
		name string
		mask []bool
	}{
		{name: "with ignored rows", mask: []bool{true, true, false, true, false, true}},
		{name: "all rows", mask: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := append([]int(nil), targets...)
			if tc.mask == nil {
				tg[4] = 1
			}
			rng := rand.New(rand.NewPCG(17, 18))
			logits := randn(rng, n*v, 3)
			logits[0] += 60 // large logits must not overflow
			var ce CrossEntropy
			loss := ce.Forward(logits, tg, tc.mask, n, v)
			dlogits := make([]float32, n*v)
			ce.Backward(tg, tc.mask, 0.7, dlogits)

			// loss = −Σ_kept log softmax(z)[t] / kept, with the max subtracted per row.
			count := 0
			pick := make([]float64, n*v)
			shift := make([]float64, n*v) // each row's max, repeated across the row
			for r := 0; r < n; r++ {
				m := math.Inf(-1)
				for _, z := range logits[r*v : (r+1)*v] {
					m = math.Max(m, float64(z))
				}
				for i := range v {
					shift[r*v+i] = m
				}
				if tc.mask == nil || tc.mask[r] {
					pick[r*v+tg[r]] = 1
					count++
				}
			}
			g := G.NewGraph()
			zn := gNode(g, "z", logits, n, v)
			zs := G.Must(G.Sub(zn, gConst("max", shift, n, v)))
			lse := G.Must(G.Log(G.Must(G.Sum(G.Must(G.Exp(zs)), 1))))
			logp := G.Must(G.BroadcastSub(zs, lse, nil, []byte{1}))
			cost := gMulS(G.Must(G.Sum(G.Must(G.HadamardProd(logp, gConst("pick", pick, n, v))))), -1/float64(count))
			grads := gRun(t, g, gMulS(cost, 0.7), zn)

			assertClose(t, "loss", []float32{loss}, gValue(cost), oracleAtol, oracleRtol)
			assertClose(t, "dlogits", dlogits, grads[0], oracleAtol, oracleRtol)
		})
	}
}

func TestCrossEntropyNoRowKept(t *testing.T) {
	var ce CrossEntropy
	logits := []float32{1, 2, 3, 4}
	if loss := ce.Forward(logits, []int{0, 1}, []bool{false, false}, 2, 2); loss != 0 {
		t.Errorf("loss = %v, want 0", loss)
	}
	d := make([]float32, 4)
	ce.Backward([]int{0, 1}, []bool{false, false}, 1, d)
	for _, v := range d {
		if v != 0 {
			t.Fatalf("gradient %v, want zeros", d)
		}
	}
}

func TestMSEMatchesGorgonia(t *testing.T) {
	const n, d = 5, 3
	mask := []bool{true, false, true, true, false}
	rng := rand.New(rand.NewPCG(19, 20))
	pred, target := randn(rng, n*d, 1), randn(rng, n*d, 1)
	loss := MSEForward(pred, target, mask, n, d)
	dpred := make([]float32, n*d)
	MSEBackward(pred, target, mask, n, d, 1.5, dpred)

	w := make([]float64, n*d)
	for r := range n {
		if mask[r] {
			for i := range d {
				w[r*d+i] = 1.0 / (3 * d) // three kept rows
			}
		}
	}
	g := G.NewGraph()
	pn := gNode(g, "pred", pred, n, d)
	diff := G.Must(G.Sub(pn, gConst("target", to64(target), n, d)))
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Square(diff)), gConst("w", w, n, d)))))
	grads := gRun(t, g, gMulS(cost, 1.5), pn)
	assertClose(t, "loss", []float32{loss}, gValue(cost), oracleAtol, oracleRtol)
	assertClose(t, "dpred", dpred, grads[0], oracleAtol, oracleRtol)
}
