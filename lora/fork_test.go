package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// TestForkSplitsRows: an adapter and its fork on a twin layer, each given half of the
// rows, produce the outputs and (after adding the fork's gradients) the gradients of
// the adapter given all rows, and the fork follows the adapter's scale and mode.
func TestForkSplitsRows(t *testing.T) {
	const n, half = 6, 4
	rng := rand.New(rand.NewPCG(3, 4))
	m := newToy(1)
	lm, err := Apply(m, Config{R: 2, Alpha: 4, TargetModules: []string{"mlp.fc"}, Init: InitGaussian}, Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	a := lm.Adapters[0]
	for i := range a.B.Data {
		a.B.Data[i] = float32(rng.NormFloat64())
	}
	l := a.Layer
	x, dy := randRows(rng, n*l.In), randRows(rng, n*l.Out)

	whole := func() (y, dx []float32, dA, dB []float32) {
		a.A.ZeroGrad()
		a.B.ZeroGrad()
		y, dx = make([]float32, n*l.Out), make([]float32, n*l.In)
		l.Forward(x, y, n, nil)
		l.Backward(x, dy, dx, n)
		return y, dx, append([]float32(nil), a.A.Grad...), append([]float32(nil), a.B.Grad...)
	}
	twin := &nn.Linear{Name: l.Name, In: l.In, Out: l.Out, W: l.W, B: l.B, Gemm: l.Gemm}
	var views []*nn.Param
	f := a.Fork(twin, func(p *nn.Param) *nn.Param {
		q := &nn.Param{Name: p.Name, Shape: p.Shape, Data: p.Data, Grad: make([]float32, len(p.Data))}
		views = append(views, q)
		return q
	})
	twin.Adapter = f
	split := func() (y, dx []float32, dA, dB []float32) {
		a.A.ZeroGrad()
		a.B.ZeroGrad()
		for _, v := range views {
			v.ZeroGrad()
		}
		y, dx = make([]float32, n*l.Out), make([]float32, n*l.In)
		f.Sync()
		l.Forward(x[:half*l.In], y[:half*l.Out], half, nil)
		twin.Forward(x[half*l.In:], y[half*l.Out:], n-half, nil)
		l.Backward(x[:half*l.In], dy[:half*l.Out], dx[:half*l.In], half)
		twin.Backward(x[half*l.In:], dy[half*l.Out:], dx[half*l.In:], n-half)
		dA, dB = append([]float32(nil), a.A.Grad...), append([]float32(nil), a.B.Grad...)
		for i, g := range views[0].Grad {
			dA[i] += g
		}
		for i, g := range views[1].Grad {
			dB[i] += g
		}
		return y, dx, dA, dB
	}
	check := func(what string) {
		t.Helper()
		wy, wdx, wdA, wdB := whole()
		gy, gdx, gdA, gdB := split()
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"y", gy, wy}, {"dx", gdx, wdx}, {"dA", gdA, wdA}, {"dB", gdB, wdB}} {
			for i := range c.want {
				if math.Abs(float64(c.got[i]-c.want[i])) > 1e-5*math.Max(1, math.Abs(float64(c.want[i]))) {
					t.Fatalf("%s: %s[%d] = %v split, %v whole", what, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
	check("as built")
	a.SetTrain(true) // no dropout: nothing changes, but the fork must follow
	check("in training mode")
	if err := a.Merge(false); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, half*l.Out)
	f.Sync()
	twin.Forward(x[:half*l.In], y, half, nil)
	if !f.(*Adapter).Merged() {
		t.Error("the fork does not follow a merge")
	}
}
