package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// TestForkSplitsRows: an adapter and its fork on a twin layer, each given part of
// the rows, produce the outputs and (after adding the fork's gradients) the
// gradients of the adapter given all rows, for LoRA and DoRA, and the fork follows
// the adapter's mode and merging through Sync.
func TestForkSplitsRows(t *testing.T) {
	for _, dora := range []bool{false, true} {
		t.Run(map[bool]string{false: "lora", true: "dora"}[dora], func(t *testing.T) { testForkSplitsRows(t, dora) })
	}
}

func testForkSplitsRows(t *testing.T, dora bool) {
	const n, half = 6, 4
	rng := rand.New(rand.NewPCG(3, 4))
	m := newToy(1)
	lm, err := Apply(m, Config{R: 2, Alpha: 4, TargetModules: []string{"mlp.fc"}, Init: InitGaussian, UseDoRA: dora}, Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	a := lm.Adapters[0]
	for i := range a.B.Data {
		a.B.Data[i] = float32(rng.NormFloat64())
	}
	if dora {
		for i := range a.M.Data {
			a.M.Data[i] *= float32(1 + 0.3*rng.NormFloat64()) // away from g = 1
		}
	}
	own := []*nn.Param{a.A, a.B}
	if dora {
		own = append(own, a.M)
	}
	l := a.Layer
	x, dy := randRows(rng, n*l.In), randRows(rng, n*l.Out)
	grads := func(extra []*nn.Param) [][]float32 {
		var out [][]float32
		for i, p := range own {
			g := append([]float32(nil), p.Grad...)
			if extra != nil {
				for j, v := range extra[i].Grad {
					g[j] += v
				}
			}
			out = append(out, g)
		}
		return out
	}
	zero := func(ps []*nn.Param) {
		for _, p := range ps {
			p.ZeroGrad()
		}
	}

	whole := func() (y, dx []float32, g [][]float32) {
		zero(own)
		y, dx = make([]float32, n*l.Out), make([]float32, n*l.In)
		l.Forward(x, y, n, nil)
		l.Backward(x, dy, dx, n)
		return y, dx, grads(nil)
	}
	twin := &nn.Linear{Name: l.Name, In: l.In, Out: l.Out, W: l.W, B: l.B, Gemm: l.Gemm}
	var views []*nn.Param
	f := a.Fork(twin, func(p *nn.Param) *nn.Param {
		q := &nn.Param{Name: p.Name, Shape: p.Shape, Data: p.Data, Grad: make([]float32, len(p.Data))}
		views = append(views, q)
		return q
	})
	twin.Adapter = f
	if len(views) != len(own) {
		t.Fatalf("the fork asked for %d parameters, want %d", len(views), len(own))
	}
	split := func() (y, dx []float32, g [][]float32) {
		zero(own)
		zero(views)
		y, dx = make([]float32, n*l.Out), make([]float32, n*l.In)
		f.Sync()
		l.Forward(x[:half*l.In], y[:half*l.Out], half, nil)
		twin.Forward(x[half*l.In:], y[half*l.Out:], n-half, nil)
		l.Backward(x[:half*l.In], dy[:half*l.Out], dx[:half*l.In], half)
		twin.Backward(x[half*l.In:], dy[half*l.Out:], dx[half*l.In:], n-half)
		return y, dx, grads(views)
	}
	check := func(what string) {
		t.Helper()
		wy, wdx, wg := whole()
		gy, gdx, gg := split()
		cmp := func(name string, got, want []float32) {
			t.Helper()
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("%s: %s[%d] = %v split, %v whole", what, name, i, got[i], want[i])
				}
			}
		}
		cmp("y", gy, wy)
		cmp("dx", gdx, wdx)
		for i, p := range own {
			cmp(p.Name, gg[i], wg[i])
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
