package policy

import (
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// gradProbe is an adapter that adds nothing and records which output rows of its
// layer receive a non-zero gradient: the rows whose outputs reach the loss.
type gradProbe struct {
	out     int
	nonzero []bool
}

func (g *gradProbe) Forward(x, y []float32, n int) {}

func (g *gradProbe) Backward(x, dy, dx []float32, n int) {
	g.nonzero = make([]bool, n)
	for r := 0; r < n; r++ {
		for _, v := range dy[r*g.out : (r+1)*g.out] {
			if v != 0 {
				g.nonzero[r] = true
				break
			}
		}
	}
}

// LossRows' path rows are exactly the rows whose output gradient is non-zero after
// Loss and Backward (an independent account of which outputs reach the loss), and
// its at rows are the real state tokens, for left padding, right padding and a hole.
func TestLossRowsMatchGradientFlow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action ActionSpace
		head   string
		k      int // steps per window (≤ context 3)
	}{
		{"continuous", boxed(2, -1, 1), HeadDeterministic, 3},
		{"continuous, K 2", boxed(2, -1, 1), HeadDeterministic, 2},
		{"discrete", ActionSpace{Discrete: 4}, HeadCategorical, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(tc.action, tc.head, ActGELU)
			rng := rand.New(rand.NewPCG(31, 32))
			m, err := New(cfg, rng, nn.GonumGemm{})
			if err != nil {
				t.Fatal(err)
			}
			m.SetTrain(false)
			bt := randomBatch(cfg, 5, rng)
			if tc.k < cfg.Context {
				bt = shorten(cfg, bt, tc.k)
			}
			K := bt.K
			// Window 3 is padded at the end, window 4 has a hole in the middle.
			for k := 0; k < K; k++ {
				bt.Mask[3*K+k] = k == 0
				bt.Mask[4*K+k] = k != 1
			}
			probes := map[string]*gradProbe{}
			for _, l := range m.Linears() {
				p := &gradProbe{out: l.Out}
				probes[l.Name], l.Adapter = p, p
			}
			if err := m.Forward(bt); err != nil {
				t.Fatal(err)
			}
			m.Loss(bt, 0)
			m.Backward()
			for _, l := range m.Linears() {
				p := probes[l.Name]
				n := len(p.nonzero)
				at, path := make([]bool, n), make([]bool, n)
				if !m.LossRows(l.Name, n, at, path) {
					t.Fatalf("%s: LossRows refused %d rows", l.Name, n)
				}
				for r := 0; r < n; r++ {
					if path[r] != p.nonzero[r] {
						t.Errorf("%s row %d: path %v, but the output gradient is non-zero: %v", l.Name, r, path[r], p.nonzero[r])
					}
					// at: real state tokens (token-level rows: r%3 == 1; step-level:
					// the embedding of states and the head).
					var want bool
					if n == bt.B*K*tokensPerStep {
						want = r%tokensPerStep == 1 && bt.Mask[r/tokensPerStep]
					} else {
						want = (l.Name == "embed_state" || l.Name == "head") && bt.Mask[r]
					}
					if at[r] != want {
						t.Errorf("%s row %d: at %v, want %v", l.Name, r, at[r], want)
					}
				}
			}
			if m.LossRows("blocks.0.attn.q", 7, make([]bool, 7), make([]bool, 7)) {
				t.Error("a wrong row count was accepted")
			}
			if m.LossRows("no.such.layer", 1, make([]bool, 1), make([]bool, 1)) {
				t.Error("an unknown layer was accepted")
			}
		})
	}
}

// shorten keeps the last k steps of every window of bt.
func shorten(cfg Config, bt *Batch, k int) *Batch {
	out := NewBatch(cfg, bt.B)
	out.K = k
	S, A, K := cfg.StateDim, cfg.Action.Width(), bt.K
	for w := 0; w < bt.B; w++ {
		for j := 0; j < k; j++ {
			src, dst := w*K+K-k+j, w*k+j
			out.Mask[dst], out.Returns[dst], out.Timesteps[dst] = bt.Mask[src], bt.Returns[src], bt.Timesteps[src]
			copy(out.States[dst*S:(dst+1)*S], bt.States[src*S:(src+1)*S])
			copy(out.Actions[dst*A:(dst+1)*A], bt.Actions[src*A:(src+1)*A])
		}
	}
	return out
}
