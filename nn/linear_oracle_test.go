package nn

// Test helpers shared by the layer tests: a loop Gemm, random data, and the gorgonia
// (float64 autodiff) side of each comparison.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// loopGemm is the textbook triple loop behind the Gemm contract, in float64
// accumulation; the layer tests run on it so they do not depend on a backend.
type loopGemm struct{}

func (loopGemm) Name() string { return "loop" }

func (loopGemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * float32(s)
			} else {
				c[i*ldc+j] = alpha*float32(s) + beta*c[i*ldc+j]
			}
		}
	}
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * scale)
	}
	return out
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// gNode makes a named float64 gorgonia node holding a copy of x with the given shape.
func gNode(g *G.ExprGraph, name string, x []float32, shape ...int) *G.Node {
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(to64(x)))
	if len(shape) == 1 {
		return G.NewVector(g, tensor.Float64, G.WithShape(shape...), G.WithName(name), G.WithValue(t))
	}
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
}

// gWeighted returns Σ y ⊙ r for a constant r, the scalar whose gradient with respect
// to y is r: it lets one autodiff pass stand for "backward with upstream gradient r".
func gWeighted(g *G.ExprGraph, y *G.Node, r []float32) *G.Node {
	rn := G.NewConstant(tensor.New(tensor.WithShape(y.Shape().Clone()...), tensor.WithBacking(to64(r))), G.WithName("r"))
	return G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
}

// gRun differentiates cost with respect to wrt, runs the graph and returns the
// gradients in the order of wrt.
func gRun(t *testing.T, g *G.ExprGraph, cost *G.Node, wrt ...*G.Node) [][]float64 {
	t.Helper()
	if _, err := G.Grad(cost, wrt...); err != nil {
		t.Fatalf("gorgonia Grad: %v", err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("gorgonia run: %v", err)
	}
	out := make([][]float64, len(wrt))
	for i, n := range wrt {
		gv, err := n.Grad()
		if err != nil {
			t.Fatalf("gorgonia grad of %s: %v", n.Name(), err)
		}
		out[i] = append([]float64(nil), gv.Data().([]float64)...)
	}
	return out
}

// gValue returns the float64 data of an evaluated node.
func gValue(n *G.Node) []float64 {
	switch v := n.Value().Data().(type) {
	case []float64:
		return append([]float64(nil), v...)
	case float64:
		return []float64{v}
	}
	panic(fmt.Sprintf("unexpected value type %T", n.Value().Data()))
}

// assertClose fails when |got-want| > atol + rtol·|want| anywhere.
func assertClose(t *testing.T, what string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		d := math.Abs(float64(got[i]) - want[i])
		if d > atol+rtol*math.Abs(want[i]) || math.IsNaN(float64(got[i])) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.7g, want %.7g (diff %.3g)", what, i, got[i], want[i], d)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(got))
	}
}

// Tolerances for float32 kernels against the float64 oracle on small shapes with O(1)
// values: float32 rounding over sums of ≤ 100 terms stays well below these.
const (
	oracleAtol = 2e-5
	oracleRtol = 1e-4
)

// Scalar helpers for building gorgonia expressions.
func gMulS(n *G.Node, s float64) *G.Node { return G.Must(G.Mul(n, G.NewConstant(s))) }
func gAddS(n *G.Node, s float64) *G.Node { return G.Must(G.Add(n, G.NewConstant(s))) }

// gConst makes a float64 constant tensor from float64 data.
func gConst(name string, x []float64, shape ...int) *G.Node {
	return G.NewConstant(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x)), G.WithName(name))
}
