package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// toyModel is a small stack of linear layers named like a Decision Transformer
// block (the q projection, the MLP and an untargeted head), enough to exercise
// targeting, init methods, merging and file round trips without package policy.
type toyModel struct {
	linears []*nn.Linear
	params  nn.Params
}

func (m *toyModel) Linears() []*nn.Linear { return m.linears }
func (m *toyModel) Params() *nn.Params    { return &m.params }

// newToy builds the same model for the same seed: q 8→8, fc 8→16, proj 16→8, head 8→3.
func newToy(seed uint64) *toyModel {
	rng := rand.New(rand.NewPCG(seed, 0))
	g := nn.GonumGemm{}
	m := &toyModel{}
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

// forward runs n rows through the stack (ReLU after fc) and returns the output.
func (m *toyModel) forward(x []float32, n int) []float32 {
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

// perturbB gives every adapter a non-zero B, standing in for training.
func perturbB(m *Model, rng *rand.Rand) {
	for _, a := range m.Adapters {
		for i := range a.B.Data {
			a.B.Data[i] = float32(0.3 * rng.NormFloat64())
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
