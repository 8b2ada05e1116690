package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// The reference writes the lookup as a one-hot matrix times the table.
func TestEmbeddingMatchesGorgonia(t *testing.T) {
	const rows, c = 5, 3
	ids := []int{4, 0, 4, 2, 1, 4} // row 4 used three times: gradients accumulate
	rng := rand.New(rand.NewPCG(13, 14))
	e := NewEmbedding("embed_timestep", rows, c)
	e.InitNormal(rng, 1)
	dy := randn(rng, len(ids)*c, 1)
	y := make([]float32, len(ids)*c)
	e.Forward(ids, y)
	e.Backward(ids, dy)

	onehot := make([]float64, len(ids)*rows)
	for i, id := range ids {
		onehot[i*rows+id] = 1
	}
	g := G.NewGraph()
	wn := gNode(g, "w", e.W.Data, rows, c)
	yn := G.Must(G.Mul(gConst("onehot", onehot, len(ids), rows), wn))
	grads := gRun(t, g, gWeighted(g, yn, dy), wn)
	assertClose(t, "y", y, gValue(yn), 0, 0)
	assertClose(t, "dw", e.W.Grad, grads[0], oracleAtol, oracleRtol)

	e.W.SetTrainable(false)
	e.Backward(ids, dy) // frozen: must not panic or allocate a gradient
	if e.W.Grad != nil {
		t.Error("frozen table got a gradient buffer")
	}
}
