package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

func TestActivationsMatchGorgonia(t *testing.T) {
	const n = 64
	rng := rand.New(rand.NewPCG(7, 8))
	x := randn(rng, n, 2.5)
	x[0], x[1], x[2] = 1e-3, -9, 9 // the flat tails and near the kink (gorgonia's ReLU'(0) is 1, PyTorch's 0)
	dy := randn(rng, n, 1)
	tests := []struct {
		name     string
		forward  func(x, y []float32)
		backward func(x, dy, dx []float32)
		graph    func(x *G.Node) *G.Node
	}{
		{
			name: "gelu", forward: GELUForward, backward: GELUBackward,
			graph: func(x *G.Node) *G.Node {
				// ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's formula.
				inner := gMulS(G.Must(G.Add(x, gMulS(G.Must(G.Cube(x)), 0.044715))), math.Sqrt(2/math.Pi))
				return gMulS(G.Must(G.HadamardProd(x, gAddS(G.Must(G.Tanh(inner)), 1))), 0.5)
			},
		},
		{
			name: "relu", forward: ReLUForward, backward: ReLUBackward,
			graph: func(x *G.Node) *G.Node { return G.Must(G.Rectify(x)) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := make([]float32, n)
			tc.forward(x, y)
			dx := randn(rng, n, 1) // Backward adds into what is there
			pre := to64(dx)
			tc.backward(x, dy, dx)

			g := G.NewGraph()
			xn := gNode(g, "x", x, n)
			yn := tc.graph(xn)
			grads := gRun(t, g, gWeighted(g, yn, dy), xn)
			for i := range pre {
				grads[0][i] += pre[i]
			}
			assertClose(t, "y", y, gValue(yn), oracleAtol, oracleRtol)
			assertClose(t, "dx", dx, grads[0], oracleAtol, oracleRtol)
		})
	}
}

func TestGELUNaiveTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := randn(rng, 4096, 3)
	got, want := make([]float32, len(x)), make([]float32, len(x))
	GELUForward(x, got)
	geluForwardNaive(x, want)
	assertClose(t, "gelu", got, to64(want), 1e-6, 1e-6)
}

// TestExpf bounds expf's relative error against math.Exp over float32's range.
func TestExpf(t *testing.T) {
	worst := 0.0
	for x := float32(-103); x <= 88.7; x += 0.0137 {
		want := math.Exp(float64(x))
		got := float64(expf(x))
		if want < 0x1p-126 { // subnormal results carry fewer significant bits
			if math.Abs(got-want) > 0x1p-148 { // 2 ulp of a subnormal
				t.Fatalf("expf(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("worst relative error %.3g, want ≤ 3e-7 (about 2 ulp)", worst)
	}
	edge := []struct {
		x    float32
		want float32
	}{{0, 1}, {-200, 0}, {200, float32(math.Inf(1))}}
	for _, e := range edge {
		if got := expf(e.x); got != e.want {
			t.Errorf("expf(%v) = %v, want %v", e.x, got, e.want)
		}
	}
	if got := expf(88.72); math.IsInf(float64(got), 0) || got < 3.3e38 {
		t.Errorf("expf(88.72) = %v, want finite ≈ 3.4e38", got)
	}
}
