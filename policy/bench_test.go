package policy

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
)

// BenchmarkTrainStep times one training step of the reference model of DESIGN.md
// (embed 128, 3 blocks, 4 heads, K = 20 → 60 tokens, batch 64, state dim 17,
// 6 continuous actions, GELU, pre-LN, dropout 0.1, deterministic head): forward,
// MSE, backward, gradient clipping at 0.25 and AdamW (lr 1e-4, weight decay 1e-4).
// bench/torch_dt.py runs the same step in PyTorch. The backend is nn.DefaultGemm,
// so EVARL_BLAS=gonum measures the pure-Go fallback.
func BenchmarkTrainStep(b *testing.B) { benchTrainStep(b, referenceBench(), false) }

// BenchmarkTrainStepOneLane is BenchmarkTrainStep without the two-lane batch split,
// to measure what the split brings next to nn's own parallel kernels.
func BenchmarkTrainStepOneLane(b *testing.B) { benchTrainStep(b, referenceBench(), true) }

// BenchmarkLoRAStep is BenchmarkTrainStep with the base frozen and LoRA adapters
// (r = 8, alpha 8, no adapter dropout) on lora.DefaultTargets: at this width
// (embed 128, MLP 512) the adapters' products are a small share of the layers', so
// the step shows what skipping the frozen weights' gradients saves.
func BenchmarkLoRAStep(b *testing.B) {
	tb := referenceBench()
	tb.lora = true
	benchTrainStep(b, tb, false)
}

// BenchmarkTrainStepSmall is the training step at the size of the shipped gridworld
// policy (embed 64, 2 blocks, 2 heads, K = 10 → 30 tokens, batch 32, 204-dim state,
// 3 discrete actions, categorical head, dropout 0.1), full fine-tuning with AdamW
// and clipping at 0.25 (`bench/torch_dt.py --size small`).
func BenchmarkTrainStepSmall(b *testing.B) { benchTrainStep(b, smallBench(false), false) }

// BenchmarkLoRAStepSmall is BenchmarkTrainStepSmall with the base frozen and LoRA
// adapters (package lora, r = 8, alpha 8, no adapter dropout, as the quickstart) on
// attn.q, attn.k, attn.v, attn.o, mlp.fc and mlp.proj; AdamW and clipping act on the
// adapters only (`bench/torch_dt.py --size small --lora`).
func BenchmarkLoRAStepSmall(b *testing.B) { benchTrainStep(b, smallBench(true), false) }

// trainBench is one benchmarked training setting.
type trainBench struct {
	cfg   Config
	batch int
	lora  bool // base frozen, adapters on lora.DefaultTargets
}

func referenceBench() trainBench {
	cfg := DefaultConfig(17, boxed(6, -1, 1))
	cfg.MaxEpisodeLen = 1000
	return trainBench{cfg: cfg, batch: 64}
}

// smallConfig is the configuration of the shipped gridworld policy
// (configs/pretrain-gridworld.yaml).
func smallConfig() Config {
	cfg := DefaultConfig(204, ActionSpace{Discrete: 3})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen = 64, 2, 2, 10, 512
	return cfg
}

func smallBench(withLoRA bool) trainBench {
	return trainBench{cfg: smallConfig(), batch: 32, lora: withLoRA}
}

// countingGemm sums the multiply-adds m·n·k of every product it forwards, so a
// benchmark can report what a step asks of the BLAS.
type countingGemm struct {
	nn.Gemm
	macs atomic.Int64
}

func (c *countingGemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, cm []float32, ldc int) {
	c.macs.Add(int64(m) * int64(n) * int64(k))
	c.Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc)
}

// newTrainStep builds the benchmarked model on g and returns one training step of
// it on a fixed random batch.
func newTrainStep(b *testing.B, tb trainBench, g nn.Gemm, oneLane bool) func() {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := New(tb.cfg, rng, g)
	if err != nil {
		b.Fatal(err)
	}
	m.oneLane = oneLane
	params := m.Params().Trainable()
	if tb.lora {
		lc := lora.DefaultConfig()
		lm, err := lora.Apply(m, lc, lora.Options{Rng: rng})
		if err != nil {
			b.Fatal(err)
		}
		lm.SetTrain(true)
		params = lm.Params().Trainable()
	}
	bt := randomBatch(tb.cfg, tb.batch, rng)
	opt, err := nn.NewAdamW(params, nn.DefaultAdamWConfig())
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		if err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Loss(bt, 0)
		for _, p := range opt.Params() {
			p.ZeroGrad()
		}
		m.Backward()
		nn.ClipGradNorm(opt.Params(), 0.25)
		opt.Step(1e-4)
	}
}

func benchTrainStep(b *testing.B, tb trainBench, oneLane bool) {
	g, err := nn.DefaultGemm(nil)
	if err != nil {
		b.Fatal(err)
	}
	// The multiply-adds of one step, counted on a twin model outside the timing:
	// a LoRA step's share of a full step's is what skipping the frozen gradients
	// can save at most, since the elementwise kernels cost the same in both.
	counted := &countingGemm{Gemm: g}
	newTrainStep(b, tb, counted, oneLane)()
	step := newTrainStep(b, tb, g, oneLane)
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
	b.ReportMetric(float64(counted.macs.Load())/1e6, "Mmac/step")
	b.Logf("blas backend: %s", g.Name())
}
