package policy

import (
	"math/rand/v2"
	"testing"

	"github.com/evarl/evarl/nn"
)

// BenchmarkTrainStep times one training step of the reference model of DESIGN.md
// (embed 128, 3 blocks, 4 heads, K = 20 → 60 tokens, batch 64, state dim 17,
// 6 continuous actions, GELU, pre-LN, dropout 0.1, deterministic head): forward,
// MSE, backward, gradient clipping at 0.25 and AdamW (lr 1e-4, weight decay 1e-4).
// bench/torch_dt.py runs the same step in PyTorch. The backend is nn.DefaultGemm,
// so EVARL_BLAS=gonum measures the pure-Go fallback.
func BenchmarkTrainStep(b *testing.B) { benchTrainStep(b, false) }

// BenchmarkTrainStepOneLane is BenchmarkTrainStep without the two-lane batch split,
// to measure what the split brings next to nn's own parallel kernels.
func BenchmarkTrainStepOneLane(b *testing.B) { benchTrainStep(b, true) }

func benchTrainStep(b *testing.B, oneLane bool) {
	g, err := nn.DefaultGemm(nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig(17, boxed(6, -1, 1))
	cfg.MaxEpisodeLen = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := New(cfg, rng, g)
	if err != nil {
		b.Fatal(err)
	}
	m.oneLane = oneLane
	bt := randomBatch(cfg, 64, rng)
	opt, err := nn.NewAdamW(m.Params().Trainable(), nn.DefaultAdamWConfig())
	if err != nil {
		b.Fatal(err)
	}
	step := func() {
		if err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Loss(bt, 0)
		m.Params().ZeroGrad()
		m.Backward()
		nn.ClipGradNorm(opt.Params(), 0.25)
		opt.Step(1e-4)
	}
	step() // sizes the buffers
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/step")
	if cpu1, ok := processCPU(); ok && cpuOK {
		// CPU time of the whole process (all threads) per step: with two busy cores it
		// is up to twice the wall time.
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/step")
	}
	b.Logf("blas backend: %s", g.Name())
}
