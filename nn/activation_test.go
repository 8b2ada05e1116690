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
			name: "gelu, backward from the output", forward: GELUForward,
			backward: func(x, dy, dx []float32) {
				y := make([]float32, len(x))
				GELUForward(x, y)
				GELUBackwardWithOutput(x, y, dy, dx)
			},
			graph: func(x *G.Node) *G.Node {
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

// On a slice long enough to be split across workers, GELU equals its textbook twin
// and the split backward equals one serial pass.
func TestGELUNaiveTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := 2*ParallelMinElems + 3
	x, dy := randn(rng, n, 3), randn(rng, n, 1)
	got, want := make([]float32, n), make([]float32, n)
	GELUForward(x, got)
	geluForwardNaive(x, want)
	assertClose(t, "gelu", got, to64(want), 1e-6, 1e-6)

	dx, dxSerial := make([]float32, n), make([]float32, n)
	GELUBackward(x, dy, dx)
	geluBackward(x, dy, dxSerial, nil)
	for i := range dx {
		if dx[i] != dxSerial[i] {
			t.Fatalf("dx[%d] = %v split, %v serial", i, dx[i], dxSerial[i])
		}
	}

	// From the output: the same gradient up to the rounding of y/x.
	x[0], x[1], x[2] = 0, 1e-35, -1e-35 // where σ(2u) = ½ is used instead of y/x
	GELUForward(x, got)
	clear(dx)
	clear(dxSerial)
	GELUBackwardWithOutput(x, got, dy, dx)
	geluBackward(x, dy, dxSerial, nil)
	assertClose(t, "dx from output", dx, to64(dxSerial), 1e-6, 1e-5)
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

func TestExpNarrow(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x <= 88; x += 0.0071 {
		want := math.Exp(float64(x))
		worst = max(worst, math.Abs(float64(expNarrow(x))-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("worst relative error %.3g on [−87, 88], want ≤ 3e-7", worst)
	}
	for _, x := range []float32{-1000, float32(math.Inf(-1))} {
		if got, want := expNarrow(x), expNarrow(-87); got != want {
			t.Errorf("expNarrow(%v) = %v, want the clamp value %v", x, got, want)
		}
	}
	if got := expNarrow(1000); math.IsInf(float64(got), 0) {
		t.Errorf("expNarrow(1000) = %v, want the finite clamp value", got)
	}
}

// BenchmarkGELU compares the x·σ(2u) form on expf with the textbook tanh form, over
// one MLP activation of the reference model (B=64, T=60, 4·128 channels).
func BenchmarkGELU(b *testing.B) {
	x := randn(rand.New(rand.NewPCG(46, 47)), 64*60*512, 1)
	y, dx := make([]float32, len(x)), make([]float32, len(x))
	for _, bc := range []struct {
		name string
		fn   func()
	}{
		{"forward", func() { GELUForward(x, y) }},
		{"forward-naive-tanh", func() { geluForwardNaive(x, y) }},
		{"backward", func() { GELUBackward(x, y, dx) }},
		{"backward-with-output", func() { GELUBackwardWithOutput(x, y, y, dx) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				bc.fn()
			}
			reportCPU(b, cpu0)
		})
	}
}

func TestReLUEdges(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	tests := []struct {
		x, wantY, wantDx float32 // dx for dy = 1
	}{
		{x: 2.5, wantY: 2.5, wantDx: 1},
		{x: 1e-45, wantY: 1e-45, wantDx: 1}, // smallest subnormal
		{x: 0, wantY: 0, wantDx: 0},
		{x: negZero, wantY: 0, wantDx: 0},
		{x: -3, wantY: 0, wantDx: 0},
		{x: float32(math.Inf(1)), wantY: float32(math.Inf(1)), wantDx: 1},
		{x: float32(math.Inf(-1)), wantY: 0, wantDx: 0},
	}
	for _, tc := range tests {
		y, dx := []float32{7}, []float32{0}
		ReLUForward([]float32{tc.x}, y)
		ReLUBackward([]float32{tc.x}, []float32{1}, dx)
		if y[0] != tc.wantY || math.Signbit(float64(y[0])) || dx[0] != tc.wantDx {
			t.Errorf("relu(%v) = %v, dx %v; want %v, dx %v", tc.x, y[0], dx[0], tc.wantY, tc.wantDx)
		}
	}
}
