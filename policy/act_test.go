package policy

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evarl/evarl/nn"
)

// window copies window w of bt, cut to its last k steps, left-padded to kk steps.
func window(cfg Config, bt *Batch, w, k, kk int) *Batch {
	out := NewBatch(cfg, 1)
	out.K = kk
	S, A := cfg.StateDim, cfg.Action.Width()
	for j := 0; j < k; j++ {
		src, dst := w*bt.K+bt.K-k+j, kk-k+j
		out.Returns[dst] = bt.Returns[src]
		out.Timesteps[dst] = bt.Timesteps[src]
		out.Mask[dst] = true
		copy(out.States[dst*S:(dst+1)*S], bt.States[src*S:(src+1)*S])
		copy(out.Actions[dst*A:(dst+1)*A], bt.Actions[src*A:(src+1)*A])
	}
	return out
}

// TestActPaddingInvariance: the action for a history must not depend on how much
// padding precedes it or on the (unknown) action of the current step.
func TestActPaddingInvariance(t *testing.T) {
	for _, head := range []string{HeadCategorical, HeadDeterministic, HeadGaussian} {
		t.Run(head, func(t *testing.T) {
			act := ActionSpace{Discrete: 5}
			if head != HeadCategorical {
				act = boxed(2, -3, 1)
			}
			cfg := tinyConfig(act, head, ActGELU)
			cfg.Context = 4
			rng := rand.New(rand.NewPCG(3, 4))
			m, err := New(cfg, rng, nn.GonumGemm{})
			if err != nil {
				t.Fatal(err)
			}
			scramble(m, rng)
			full := randomBatch(cfg, 1, rng) // window 0 has no padding
			A := cfg.Action.Width()
			want := make([]float32, A)
			if err := m.Act(window(cfg, full, 0, 2, 2), true, nil, want); err != nil {
				t.Fatal(err)
			}
			for _, kk := range []int{3, 4} {
				b := window(cfg, full, 0, 2, kk)
				b.Actions[(kk-1)*A] = float32(math.NaN()) // current action: ignored
				for p := 0; p < kk-2; p++ {               // padding: ignored
					b.States[p*cfg.StateDim] = float32(math.Inf(1))
					b.Returns[p] = float32(math.NaN())
				}
				got := make([]float32, A)
				if err := m.Act(b, true, nil, got); err != nil {
					t.Fatal(err)
				}
				for d := range got {
					if math.Abs(float64(got[d]-want[d])) > 1e-5*math.Max(1, math.Abs(float64(want[d]))) {
						t.Errorf("padded to %d steps: action[%d] = %v, unpadded %v", kk, d, got[d], want[d])
					}
				}
			}
		})
	}
}

// TestActSampling checks greedy choices against the head output and sampled choices
// against their distribution.
func TestActSampling(t *testing.T) {
	cfg := tinyConfig(ActionSpace{Discrete: 3}, HeadCategorical, ActReLU)
	rng := rand.New(rand.NewPCG(5, 6))
	m, err := New(cfg, rng, nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	scramble(m, rng)
	bt := randomBatch(cfg, 1, rng)
	greedy := make([]float32, 1)
	if err := m.Act(bt, true, nil, greedy); err != nil {
		t.Fatal(err)
	}
	logits := append([]float32(nil), m.buf.out[(cfg.Context-1)*3:cfg.Context*3]...)
	probs := make([]float32, 3)
	nn.SoftmaxForward(logits, probs, 1, 3)
	best := 0
	for i := range probs {
		if probs[i] > probs[best] {
			best = i
		}
	}
	if int(greedy[0]) != best {
		t.Errorf("greedy action %v, argmax of logits %v is %d", greedy[0], logits, best)
	}
	// 20000 draws: each frequency within 0.015 of its probability (> 4 standard
	// deviations for any p).
	counts := make([]int, 3)
	draw := rand.New(rand.NewPCG(7, 8))
	const n = 20000
	out := make([]float32, 1)
	for range n / 100 {
		if err := m.Act(bt, false, draw, out); err != nil {
			t.Fatal(err)
		}
		// Sample the same logits directly too, to keep the test fast.
		for range 99 {
			counts[pickCategorical(logits, false, draw)]++
		}
		counts[int(out[0])]++
	}
	for i, c := range counts {
		if f := float64(c) / n; math.Abs(f-float64(probs[i])) > 0.015 {
			t.Errorf("action %d drawn with frequency %.4f, probability %.4f", i, f, probs[i])
		}
	}

	// Gaussian: samples stay in the bounds and spread around tanh(μ).
	gcfg := tinyConfig(boxed(2, 0, 4), HeadGaussian, ActGELU)
	g, err := New(gcfg, rand.New(rand.NewPCG(9, 9)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	gb := randomBatch(gcfg, 2, rand.New(rand.NewPCG(1, 1)))
	gb.Mask[gcfg.Context-1], gb.Mask[2*gcfg.Context-1] = true, true
	mode := make([]float32, 4)
	if err := g.Act(gb, true, nil, mode); err != nil {
		t.Fatal(err)
	}
	var spread float64
	s := make([]float32, 4)
	for i := 0; i < 200; i++ {
		if err := g.Act(gb, false, draw, s); err != nil {
			t.Fatal(err)
		}
		for d, v := range s {
			if v < 0 || v > 4 {
				t.Fatalf("sampled action %v outside [0, 4]", v)
			}
			spread += math.Abs(float64(v - mode[d]))
		}
	}
	if spread == 0 {
		t.Error("sampled Gaussian actions all equal the mode")
	}
}

func TestActErrors(t *testing.T) {
	cfg := tinyConfig(ActionSpace{Discrete: 3}, HeadCategorical, ActGELU)
	m, err := New(cfg, rand.New(rand.NewPCG(1, 1)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	good := func() *Batch { return randomBatch(cfg, 1, rand.New(rand.NewPCG(2, 2))) }
	tests := []struct {
		name   string
		batch  func() *Batch
		out    []float32
		greedy bool
		want   string
	}{
		{"short output", good, nil, true, "actions has 0 entries"},
		{"no rng", good, make([]float32, 1), false, "needs a *rand.Rand"},
		{"current step padded", func() *Batch { b := good(); b.Mask[cfg.Context-1] = false; return b }, make([]float32, 1), true, "is padding"},
		{"bad action", func() *Batch { b := good(); b.Actions[0] = 7; return b }, make([]float32, 1), true, "window 0 step 0: discrete action 7"},
		{"nan state", func() *Batch { b := good(); b.States[0] = float32(math.NaN()); return b }, make([]float32, 1), true, "state value NaN"},
		{"long window", func() *Batch { b := good(); b.K = cfg.Context + 1; return b }, make([]float32, 1), true, "K = 4"},
	}
	for _, tc := range tests {
		err := m.Act(tc.batch(), tc.greedy, nil, tc.out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Act error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestActMatchesForward: Act's forward pass (real steps packed, the last block at
// the current state token only, on one or two lanes, with and without an adapter)
// gives the head outputs that the full forward pass gives at each window's last
// step, for every head, with padded windows, a masked step between real ones and
// windows shorter than the context.
func TestActMatchesForward(t *testing.T) {
	for _, head := range []string{HeadCategorical, HeadDeterministic, HeadGaussian} {
		for _, tc := range []struct {
			name    string
			b, k    int
			adapter bool
			hole    bool // a masked step between real ones
		}{{"one window", 1, 3, false, false}, {"lanes", 5, 3, false, false}, {"short windows", 4, 2, false, false},
			{"adapter", 3, 3, true, false}, {"hole in a window", 3, 3, false, true}} {
			t.Run(head+"/"+tc.name, func(t *testing.T) {
				act := ActionSpace{Discrete: 5}
				if head != HeadCategorical {
					act = boxed(2, -3, 1)
				}
				cfg := tinyConfig(act, head, ActGELU)
				cfg.Layers = 3
				rng := rand.New(rand.NewPCG(5, 6))
				m, err := New(cfg, rng, nn.GonumGemm{})
				if err != nil {
					t.Fatal(err)
				}
				scramble(m, rng)
				if tc.adapter {
					l, _ := m.Linear("blocks.2.mlp.fc")
					l.Adapter = newTestAdapter(l, 2, rng)
				}
				bt := randomBatch(cfg, tc.b, rng)
				bt.K = tc.k
				for w := 0; w < tc.b; w++ {
					bt.Mask[w*tc.k+tc.k-1] = true // the current step is real
				}
				if tc.hole {
					bt.Mask[0], bt.Mask[1] = true, false
				}
				m.SetTrain(false)
				out := make([]float32, tc.b*cfg.Action.Width())
				if err := m.Act(bt, true, nil, out); err != nil {
					t.Fatal(err)
				}
				O, A := m.headOut, cfg.Action.Width()
				got := append([]float32(nil), m.buf.out[:tc.b*O]...)
				gotMu := append([]float32(nil), m.buf.mu[:tc.b*A]...)
				if err := m.Forward(bt); err != nil {
					t.Fatal(err)
				}
				for w := 0; w < tc.b; w++ {
					r := w*tc.k + tc.k - 1
					for o := 0; o < O; o++ {
						g, want := got[w*O+o], m.buf.out[r*O+o]
						if math.Abs(float64(g-want)) > 1e-5*math.Max(1, math.Abs(float64(want))) {
							t.Errorf("window %d output %d: Act %v, Forward %v", w, o, g, want)
						}
					}
					if head == HeadGaussian {
						for d := 0; d < A; d++ {
							if g, want := gotMu[w*A+d], m.buf.mu[r*A+d]; math.Abs(float64(g-want)) > 1e-5 {
								t.Errorf("window %d mean %d: Act %v, Forward %v", w, d, g, want)
							}
						}
					}
				}
			})
		}
	}
}
