package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// toyModel is a small stack of linear layers named like a Decision Transformer
// block (the q projection, the MLP and an untargeted head) under two embedding
// tables named like the DT's (embed_timestep 6×8, embed_action 3×8), enough to
// exercise targeting, init methods, merging and file round trips without package
// policy.
type toyModel struct {
	linears []*nn.Linear
	tables  []*nn.Embedding
	params  nn.Params
}

func (m *toyModel) Linears() []*nn.Linear       { return m.linears }
func (m *toyModel) Embeddings() []*nn.Embedding { return m.tables }
func (m *toyModel) Params() *nn.Params          { return &m.params }

// newToy builds the same model for the same seed: tables embed_timestep (6, 8) and
// embed_action (3, 8), then q 8→8, fc 8→16, proj 16→8, head 8→3.
func newToy(seed uint64) *toyModel {
	rng := rand.New(rand.NewPCG(seed, 0))
	g := nn.GonumGemm{}
	m := &toyModel{}
	for _, s := range []struct {
		name string
		n    int
	}{{"embed_timestep", 6}, {"embed_action", 3}} {
		e := nn.NewEmbedding(s.name, s.n, 8)
		e.InitNormal(rng, 0.5)
		m.tables = append(m.tables, e)
		m.params.Add(e.Params()...)
	}
	for _, s := range []struct {
		name    string
		in, out int
	}{{"blocks.0.attn.q", 8, 8}, {"blocks.0.mlp.fc", 8, 16}, {"blocks.0.mlp.proj", 16, 8}, {"head", 8, 3}} {
		l := nn.NewLinear(s.name, s.in, s.out, true, g)
		l.InitUniform(rng)
		m.linears = append(m.linears, l)
		m.params.Add(l.Params()...)
	}
	return m
}

// toyConfig is DefaultConfig on the toy's adaptable block layers (q, fc, proj).
func toyConfig() Config {
	c := DefaultConfig()
	c.TargetModules = []string{"attn.q", "mlp.fc", "mlp.proj"}
	return c
}

// toyIDs are the ids row r looks up: timestep r mod 6 and action (2r+1) mod 3.
func toyIDs(n int) (ts, as []int) {
	for r := 0; r < n; r++ {
		ts = append(ts, r%6)
		as = append(as, (2*r+1)%3)
	}
	return ts, as
}

// forward adds row r's two embeddings to x's row r, then runs the rows through the
// stack (ReLU after fc) and returns the output.
func (m *toyModel) forward(x []float32, n int) []float32 {
	ts, as := toyIDs(n)
	h := append([]float32(nil), x[:n*8]...)
	for i, ids := range [][]int{ts, as} {
		e := make([]float32, n*8)
		m.tables[i].Forward(ids, e, nil)
		for j, v := range e {
			h[j] += v
		}
	}
	x = h
	for i, l := range m.linears {
		y := make([]float32, n*l.Out)
		l.Forward(x, y, n, nil)
		if i == 1 {
			for j, v := range y {
				y[j] = max(v, 0)
			}
		}
		x = y
	}
	return x
}

func randRows(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// perturbB gives every adapter a non-zero B (and an embedding adapter a non-zero
// A, which its random init leaves at 0), and a DoRA magnitude a change, standing in
// for training.
func perturbB(m *Model, rng *rand.Rand) {
	for _, lr := range m.lowRanks() {
		for i := range lr.b.Data {
			lr.b.Data[i] = float32(0.3 * rng.NormFloat64())
		}
		if lr.table {
			for i := range lr.a.Data {
				lr.a.Data[i] += float32(0.3 * rng.NormFloat64())
			}
		}
		if lr.m != nil {
			for i := range lr.m.Data {
				lr.m.Data[i] *= float32(1 + 0.2*rng.NormFloat64())
			}
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestToyForwardIsDeterministic(t *testing.T) {
	x := randRows(rand.New(rand.NewPCG(1, 1)), 5*8)
	if d := maxAbsDiff(newToy(3).forward(x, 5), newToy(3).forward(x, 5)); d != 0 {
		t.Fatalf("two builds of the toy model differ by %v", d)
	}
}
