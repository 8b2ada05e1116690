package policy

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// tinyConfig is small enough for the gorgonia reference: 3 steps (9 tokens), 8
// channels in 2 heads, 2 blocks.
func tinyConfig(action ActionSpace, head, act string) Config {
	c := DefaultConfig(3, action)
	c.EmbedDim, c.Layers, c.Heads, c.Context, c.MaxEpisodeLen = 8, 2, 2, 3, 10
	c.Dropout, c.Activation, c.Head, c.ReturnScale = 0, act, head, 10
	return c
}

func boxed(dim int, lo, hi float32) ActionSpace {
	a := ActionSpace{Dim: dim, Low: make([]float32, dim), High: make([]float32, dim)}
	for i := range a.Low {
		a.Low[i], a.High[i] = lo, hi
	}
	return a
}

// randomBatch fills b windows with random raw inputs; window i has i%K padded steps
// at the front (window 0 is full).
func randomBatch(cfg Config, b int, rng *rand.Rand) *Batch {
	bt := NewBatch(cfg, b)
	K, S, A := cfg.Context, cfg.StateDim, cfg.Action.Width()
	for w := 0; w < b; w++ {
		pad := w % K
		start := rng.IntN(cfg.MaxEpisodeLen + 3) // sometimes past the embedding table
		for k := 0; k < K; k++ {
			i := w*K + k
			bt.Mask[i] = k >= pad
			bt.Returns[i] = float32(rng.NormFloat64() * 20)
			bt.Timesteps[i] = start + k
			for d := 0; d < S; d++ {
				bt.States[i*S+d] = float32(1 + 2*rng.NormFloat64())
			}
			if cfg.Action.IsDiscrete() {
				bt.Actions[i] = float32(rng.IntN(cfg.Action.Discrete))
				continue
			}
			for d := 0; d < A; d++ {
				lo, hi := cfg.Action.Low[d], cfg.Action.High[d]
				bt.Actions[i*A+d] = lo + (hi-lo)*float32(rng.Float64())
			}
		}
	}
	return bt
}

// scramble replaces GPT-2's small initial weights by larger random ones, so that
// every non-linearity works away from its linear regime and wrong gradients show.
func scramble(m *Model, rng *rand.Rand) {
	for _, p := range m.Params().All() {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64() * 0.4)
			if len(p.Shape) == 1 && (p.Name[len(p.Name)-7:] == ".weight") {
				p.Data[i] += 1 // LayerNorm gains near 1
			}
		}
	}
}

// TestGradientsAgainstGorgonia compares the loss, the head outputs and the gradient
// of every parameter of the hand-written model with gorgonia's autodiff of the same
// model in float64, for every head, both activations, and padded windows.
//
// Tolerance: per tensor, max |got − want| ≤ 2e-4·max |want| + 1e-6·G, where G is the
// largest reference gradient entry of the whole model. The model computes in float32
// with a polynomial exp (2 ulp); the relative term covers that, and the absolute term
// covers gradients that are exactly zero in exact arithmetic, such as the attention
// key bias (softmax ignores a shift shared by a row), where float32 leaves
// cancellation noise of order 1e-8·G. Observed relative errors are ~1e-6; a missing
// or misrouted term errs by order 1.
func TestGradientsAgainstGorgonia(t *testing.T) {
	tests := []struct {
		name   string
		action ActionSpace
		head   string
		act    string
		lambda float32
		beta   float64 // the Gaussian head's β-NLL
	}{
		{"categorical-gelu", ActionSpace{Discrete: 4}, HeadCategorical, ActGELU, 0, 0},
		{"categorical-relu", ActionSpace{Discrete: 3}, HeadCategorical, ActReLU, 0, 0},
		{"categorical-entropy", ActionSpace{Discrete: 5}, HeadCategorical, ActGELU, 0.4, 0},
		{"deterministic-gelu", boxed(2, -2, 3), HeadDeterministic, ActGELU, 0, 0},
		{"gaussian-gelu", boxed(2, -1, 1), HeadGaussian, ActGELU, 0.3, 0},
		{"gaussian-relu", boxed(3, 0, 5), HeadGaussian, ActReLU, 0, 0},
		{"gaussian-beta1", boxed(2, -1, 1), HeadGaussian, ActGELU, 0.3, 1},
		{"gaussian-beta0.5", boxed(3, 0, 5), HeadGaussian, ActReLU, 0, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(tc.action, tc.head, tc.act)
			cfg.NLLBeta = tc.beta
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := New(cfg, rng, nn.GonumGemm{})
			if err != nil {
				t.Fatal(err)
			}
			scramble(m, rng)
			if err := m.SetStateNorm([]float32{1, 0.5, -1}, []float32{2, 1, 0.5}); err != nil {
				t.Fatal(err)
			}
			bt := randomBatch(cfg, 3, rng)
			if err := m.Forward(bt); err != nil {
				t.Fatal(err)
			}
			got := m.Loss(bt, tc.lambda)
			m.Params().ZeroGrad()
			m.Backward()

			ref, err := newRefDT(m).run(m, bt, float64(tc.lambda))
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(got.Loss) - ref.loss); d > 1e-4*math.Max(1, math.Abs(ref.loss)) {
				t.Errorf("loss = %v, gorgonia %v", got.Loss, ref.loss)
			}
			if tc.head != HeadDeterministic {
				if d := math.Abs(float64(got.NLL) - ref.nll); d > 1e-4*math.Max(1, math.Abs(ref.nll)) {
					t.Errorf("nll = %v, gorgonia %v", got.NLL, ref.nll)
				}
				if d := math.Abs(float64(got.Entropy) - ref.entropy); d > 1e-4*math.Max(1, math.Abs(ref.entropy)) {
					t.Errorf("entropy = %v, gorgonia %v", got.Entropy, ref.entropy)
				}
			}
			// Head outputs at real steps (padding rows are not defined the same way).
			K, O := cfg.Context, m.headOut
			for w := 0; w < bt.B; w++ {
				for k := 0; k < K; k++ {
					if !bt.Mask[w*K+k] {
						continue
					}
					for o := 0; o < O; o++ {
						g, want := float64(m.buf.out[(w*K+k)*O+o]), ref.preds[w][k*O+o]
						if math.Abs(g-want) > 1e-4*math.Max(1, math.Abs(want)) {
							t.Errorf("head output window %d step %d [%d] = %v, gorgonia %v", w, k, o, g, want)
						}
					}
				}
			}
			var global float64 // largest reference gradient entry of the model
			for _, g := range ref.grads {
				for _, v := range g {
					global = math.Max(global, math.Abs(v))
				}
			}
			checked := 0
			for _, p := range m.Params().All() {
				want, ok := ref.grads[p.Name]
				if !ok {
					t.Errorf("no reference gradient for %s", p.Name)
					continue
				}
				checked++
				var scale, worst float64
				for i := range want {
					scale = math.Max(scale, math.Abs(want[i]))
					worst = math.Max(worst, math.Abs(float64(p.Grad[i])-want[i]))
				}
				if testing.Verbose() {
					t.Logf("%-28s scale %.3g worst %.3g (G %.3g)", p.Name, scale, worst, global)
				}
				if worst > 2e-4*scale+1e-6*global {
					t.Errorf("%s: max |grad − gorgonia| = %.3g, max |gorgonia| = %.3g", p.Name, worst, scale)
				}
			}
			if checked != len(m.Params().All()) {
				t.Errorf("checked %d of %d parameters", checked, len(m.Params().All()))
			}
		})
	}
}

// countObserver counts the rows a Linear layer shows it.
type countObserver struct{ rows int }

func (o *countObserver) Observe(x []float32, n, in int, mask []bool) { o.rows += n }

// TestLanesMatchSingleLane: splitting a batch over two lanes gives the gradients of
// running it on one (forced by attaching an observer, which the shadow lane cannot
// share), and the observer sees every row.
func TestLanesMatchSingleLane(t *testing.T) {
	cfg := tinyConfig(boxed(2, -1, 1), HeadDeterministic, ActGELU)
	grads := func(observe bool) (map[string][]float32, int) {
		rng := rand.New(rand.NewPCG(21, 22))
		m, err := New(cfg, rng, nn.GonumGemm{})
		if err != nil {
			t.Fatal(err)
		}
		scramble(m, rng)
		for _, name := range []string{"blocks.0.mlp.fc.weight", "embed_timestep.weight"} {
			p, _ := m.Params().Get(name)
			p.SetTrainable(false) // frozen, as under an adapter: no gradient anywhere
		}
		obs := &countObserver{}
		if observe {
			l, _ := m.Linear("blocks.1.mlp.fc")
			l.Observer = obs
		}
		bt := randomBatch(cfg, 5, rng)
		if err := m.Forward(bt); err != nil {
			t.Fatal(err)
		}
		if got, want := m.split < bt.B, !observe; got != want {
			t.Fatalf("observer %v: batch split over two lanes = %v, want %v", observe, got, want)
		}
		m.Loss(bt, 0)
		m.Params().ZeroGrad()
		m.Backward()
		out := map[string][]float32{}
		if _, trainable := m.Params().Count(); trainable == 0 {
			t.Fatal("no trainable parameters")
		}
		for _, p := range m.Params().All() {
			if !p.Trainable() && len(p.Grad) > 0 {
				t.Errorf("frozen %s has a gradient", p.Name)
			}
			out[p.Name] = append([]float32(nil), p.Grad...)
		}
		return out, obs.rows
	}
	two, _ := grads(false)
	one, seen := grads(true)
	if want := 5 * tokensPerStep * cfg.Context; seen != want {
		t.Errorf("observer saw %d rows, want %d", seen, want)
	}
	for name, g := range two {
		worst, scale := maxDiff(g, one[name])
		if worst > 1e-5*math.Max(scale, 1) {
			t.Errorf("%s: two lanes differ from one by %.3g (scale %.3g)", name, worst, scale)
		}
	}
}

// TestParamNames pins the parameter and layer names that checkpoints, lora target
// patterns and eva address, and the parameter count of the reference model.
func TestParamNames(t *testing.T) {
	cfg := DefaultConfig(17, boxed(6, -1, 1))
	cfg.MaxEpisodeLen = 1000
	m, err := New(cfg, rand.New(rand.NewPCG(1, 1)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"embed_timestep.weight", "embed_return.weight", "embed_state.bias", "embed_action.weight",
		"embed_ln.weight", "blocks.0.ln1.bias", "blocks.0.attn.q.weight", "blocks.1.attn.k.bias",
		"blocks.2.attn.v.weight", "blocks.2.attn.o.bias", "blocks.2.ln2.weight",
		"blocks.0.mlp.fc.weight", "blocks.2.mlp.proj.bias", "ln_f.weight", "head.weight",
	} {
		if _, ok := m.Params().Get(name); !ok {
			t.Errorf("no parameter %q", name)
		}
	}
	var names []string
	for _, l := range m.Linears() {
		names = append(names, l.Name)
	}
	if got, want := len(names), 3+6*cfg.Layers+1; got != want {
		t.Errorf("%d Linear layers %v, want %d", got, names, want)
	}
	if l, ok := m.Linear("blocks.1.mlp.fc"); !ok || l.In != 128 || l.Out != 512 {
		t.Errorf("Linear(blocks.1.mlp.fc) = %+v, %v", l, ok)
	}
	// The same count as PyTorch's model in bench/torch_dt.py (printed there): 727558.
	if total, trainable := m.Params().Count(); total != 727558 || trainable != total {
		t.Errorf("parameters: %d total, %d trainable, want 727558 both", total, trainable)
	}
}
