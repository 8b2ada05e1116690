package policy

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evarl/evarl/nn"
)

// testAdapter is a plain-loop low-rank adapter, y += x·Aᵀ·Bᵀ, standing in for
// package lora's: it has per-call state, trainable parameters and an input gradient.
type testAdapter struct {
	in, out, r int
	a, b       *nn.Param // (r, in), (out, r)
	h          []float32 // (n, r) saved by Forward
}

func newTestAdapter(l *nn.Linear, r int, rng *rand.Rand) *testAdapter {
	ad := &testAdapter{in: l.In, out: l.Out, r: r,
		a: nn.NewParam(l.Name+".test_A", r, l.In), b: nn.NewParam(l.Name+".test_B", l.Out, r)}
	for _, p := range []*nn.Param{ad.a, ad.b} {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	return ad
}

func (ad *testAdapter) Forward(x, y []float32, n int) {
	ad.h = make([]float32, n*ad.r)
	for i := 0; i < n; i++ {
		for k := 0; k < ad.r; k++ {
			var s float32
			for j := 0; j < ad.in; j++ {
				s += x[i*ad.in+j] * ad.a.Data[k*ad.in+j]
			}
			ad.h[i*ad.r+k] = s
		}
		for o := 0; o < ad.out; o++ {
			var s float32
			for k := 0; k < ad.r; k++ {
				s += ad.h[i*ad.r+k] * ad.b.Data[o*ad.r+k]
			}
			y[i*ad.out+o] += s
		}
	}
}

func (ad *testAdapter) Backward(x, dy, dx []float32, n int) {
	dh := make([]float32, ad.r)
	for i := 0; i < n; i++ {
		clear(dh)
		for o := 0; o < ad.out; o++ {
			g := dy[i*ad.out+o]
			for k := 0; k < ad.r; k++ {
				dh[k] += g * ad.b.Data[o*ad.r+k]
				if ad.b.Grad != nil {
					ad.b.Grad[o*ad.r+k] += g * ad.h[i*ad.r+k]
				}
			}
		}
		for k := 0; k < ad.r; k++ {
			for j := 0; j < ad.in; j++ {
				if ad.a.Grad != nil {
					ad.a.Grad[k*ad.in+j] += dh[k] * x[i*ad.in+j]
				}
				if dx != nil {
					dx[i*ad.in+j] += dh[k] * ad.a.Data[k*ad.in+j]
				}
			}
		}
	}
}

// TestBackwardSkipsWhatNothingLearns: with only some parameters trainable (or an
// adapter on a frozen model), Backward skips the gradients nothing below needs, and
// the gradients of what does learn equal those of a fully trainable model.
func TestBackwardSkipsWhatNothingLearns(t *testing.T) {
	cfg := tinyConfig(ActionSpace{Discrete: 3}, HeadCategorical, ActGELU)
	cfg.Layers = 3
	tests := []struct {
		name      string
		trainable []string // name prefixes left trainable
		adapter   string   // layer given a test adapter
		wantPlan  string   // per block: in, mid, out needed (1/0)
	}{
		{name: "head only", trainable: []string{"head."}, wantPlan: "000 000 000"},
		{name: "ln_f only", trainable: []string{"ln_f."}, wantPlan: "000 000 000"},
		{name: "last block", trainable: []string{"blocks.2.", "head."}, wantPlan: "000 000 011"},
		{name: "last block's mlp.proj", trainable: []string{"blocks.2.mlp.proj."}, wantPlan: "000 000 001"},
		{name: "first block's ln1", trainable: []string{"blocks.0.ln1."}, wantPlan: "011 111 111"},
		{name: "middle block's attention", trainable: []string{"blocks.1.attn.v."}, wantPlan: "000 011 111"},
		{name: "timestep embedding", trainable: []string{"embed_timestep."}, wantPlan: "111 111 111"},
		{name: "adapter on a frozen model", adapter: "blocks.1.attn.k", wantPlan: "000 011 111"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := func(all bool) (map[string][]float32, *Model) {
				rng := rand.New(rand.NewPCG(5, 6))
				m, err := New(cfg, rng, nn.GonumGemm{})
				if err != nil {
					t.Fatal(err)
				}
				scramble(m, rng)
				var extra []*nn.Param
				if tc.adapter != "" {
					l, _ := m.Linear(tc.adapter)
					ad := newTestAdapter(l, 2, rng)
					l.Adapter = ad
					extra = append(extra, ad.a, ad.b)
				}
				for _, p := range m.Params().All() {
					keep := all
					for _, pre := range tc.trainable {
						keep = keep || strings.HasPrefix(p.Name, pre)
					}
					p.SetTrainable(keep)
				}
				bt := randomBatch(cfg, 3, rng)
				if err := m.Forward(bt); err != nil {
					t.Fatal(err)
				}
				m.Loss(bt, 0)
				m.Params().ZeroGrad()
				for _, p := range extra {
					p.ZeroGrad()
				}
				m.Backward()
				out := map[string][]float32{}
				for _, p := range append(m.Params().All(), extra...) {
					if p.Trainable() {
						out[p.Name] = append([]float32(nil), p.Grad...)
					}
				}
				return out, m
			}
			want, _ := run(true)
			got, m := run(false)
			var plan []string
			for _, p := range m.plan {
				b := func(v bool) string {
					if v {
						return "1"
					}
					return "0"
				}
				plan = append(plan, b(p.in)+b(p.mid)+b(p.out))
			}
			if s := strings.Join(plan, " "); s != tc.wantPlan {
				t.Errorf("plan (input, middle, output gradient per block) = %s, want %s", s, tc.wantPlan)
			}
			if len(got) == 0 {
				t.Fatal("nothing trainable")
			}
			for name, g := range got {
				worst, scale := maxDiff(g, want[name])
				if scale == 0 {
					t.Errorf("%s: zero gradient", name)
				}
				if worst > 1e-6*scale {
					t.Errorf("%s: differs from the fully trainable model's gradient by %.3g (scale %.3g)", name, worst, scale)
				}
			}
		})
	}
}

// Fork implements nn.AdapterForker: the fork shares the parameter values and keeps
// its own saved rows.
func (ad *testAdapter) Fork(twin *nn.Linear, param func(*nn.Param) *nn.Param) nn.AdapterFork {
	return &testAdapter{in: ad.in, out: ad.out, r: ad.r, a: param(ad.a), b: param(ad.b)}
}

// Sync implements nn.AdapterFork: nothing to follow.
func (ad *testAdapter) Sync() {}

// testPlainAdapter is testAdapter without Fork.
type testPlainAdapter struct{ ad *testAdapter }

func (p testPlainAdapter) Forward(x, y []float32, n int)       { p.ad.Forward(x, y, n) }
func (p testPlainAdapter) Backward(x, dy, dx []float32, n int) { p.ad.Backward(x, dy, dx, n) }

// TestLanesWithAdapters: adapters that fork keep a batch split across two lanes, and
// the gradients (adapters' and trainable base parameters') equal one lane's; an
// adapter that cannot fork puts the batch on one lane.
func TestLanesWithAdapters(t *testing.T) {
	cfg := tinyConfig(ActionSpace{Discrete: 3}, HeadCategorical, ActGELU)
	run := func(oneLane, plain bool) (map[string][]float32, bool) {
		rng := rand.New(rand.NewPCG(7, 8))
		m, err := New(cfg, rng, nn.GonumGemm{})
		if err != nil {
			t.Fatal(err)
		}
		m.oneLane = oneLane
		scramble(m, rng)
		for _, p := range m.Params().All() {
			p.SetTrainable(p.Name == "head.weight" || p.Name == "blocks.0.ln2.bias")
		}
		var extra []*nn.Param
		for _, name := range []string{"blocks.0.attn.q", "blocks.1.mlp.fc", "blocks.1.attn.o"} {
			l, _ := m.Linear(name)
			ad := newTestAdapter(l, 2, rng)
			l.Adapter = ad
			if plain && name == "blocks.1.mlp.fc" {
				l.Adapter = testPlainAdapter{ad}
			}
			extra = append(extra, ad.a, ad.b)
		}
		out := map[string][]float32{}
		data := rand.New(rand.NewPCG(9, 10)) // a split batch draws the shadow seed from rng
		for step := 0; step < 2; step++ {    // the second step reuses the forks
			bt := randomBatch(cfg, 5, data)
			if err := m.Forward(bt); err != nil {
				t.Fatal(err)
			}
			m.Loss(bt, 0)
			m.Params().ZeroGrad()
			for _, p := range extra {
				p.ZeroGrad()
			}
			m.Backward()
		}
		for _, p := range append(m.Params().All(), extra...) {
			if p.Trainable() {
				out[p.Name] = append([]float32(nil), p.Grad...)
			}
		}
		return out, m.split < m.fwdB
	}
	one, _ := run(true, false)
	two, split := run(false, false)
	if !split {
		t.Fatal("forking adapters: the batch ran on one lane")
	}
	if _, split := run(false, true); split {
		t.Error("an adapter without Fork: the batch was split across lanes")
	}
	if len(one) != 8 {
		t.Fatalf("%d trainable tensors, want 8", len(one))
	}
	for name, g := range two {
		worst, scale := maxDiff(g, one[name])
		if scale == 0 || worst > 1e-5*scale {
			t.Errorf("%s: two lanes differ from one by %.3g (scale %.3g)", name, worst, scale)
		}
	}
}

// maxDiff returns max |got − want| and max |want|.
func maxDiff(got, want []float32) (worst, scale float64) {
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	return worst, scale
}
