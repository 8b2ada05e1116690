package eva

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// The sizes of one block of the reference DT (embed 128, K = 20 → 60 tokens, batch
// 64 → 3840 rows per minibatch) with r = 8, rho = 2 (16 components).
const (
	benchRows  = 3840
	benchEmbed = 128
)

func benchIPCA(b *testing.B, d int, lowRank bool) {
	rng := rand.New(rand.NewPCG(1, 1))
	std := []float64{8, 7, 6, 5, 4, 3.5, 3, 2.5, 2, 1.8, 1.6, 1.4, 1.2, 1, 0.9, 0.8, 0.7, 0.6}
	x := lowRankData(rng, benchRows, d, std, 0.3)
	p := NewIPCA(16, d)
	if lowRank {
		p.LowRankQ, p.Rng = 32, rand.New(rand.NewPCG(1, 2))
	}
	if _, err := p.PartialFit(x, benchRows); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := p.PartialFit(x, benchRows); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0)
}

// reportCPU adds the process CPU time per operation since c0 as "cpu-ms/op".
func reportCPU(b *testing.B, c0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-c0)/1e6/float64(b.N), "cpu-ms/op")
}

// BenchmarkIPCAUpdate128 is one incremental update of a 128-wide layer input
// (attention and mlp.fc) with 3840 rows.
func BenchmarkIPCAUpdate128(b *testing.B) { benchIPCA(b, benchEmbed, false) }

// BenchmarkIPCAUpdate512 is the same for mlp.proj's 512-wide input.
func BenchmarkIPCAUpdate512(b *testing.B) { benchIPCA(b, 4*benchEmbed, false) }

// BenchmarkIPCAUpdate512LowRank is that update with svd: lowrank (q = 32, 4 iterations).
func BenchmarkIPCAUpdate512LowRank(b *testing.B) { benchIPCA(b, 4*benchEmbed, true) }

// BenchmarkPassSynthetic6 runs a whole EVA pass (to convergence at tau 0.99) over
// the six target layers of one block: q, k, v sharing a 128-wide input, o and fc
// with 128-wide inputs, proj with a 512-wide one, 3840 rows per minibatch. It
// reports the minibatches the pass needed, for each PCA method.
func BenchmarkPassSynthetic6(b *testing.B) {
	type src struct {
		d   int
		std []float64
		mix []float64
	}
	rng := rand.New(rand.NewPCG(2, 2))
	mk := func(d int, std []float64) *src {
		s := &src{d: d, std: std, mix: make([]float64, len(std)*d)}
		for i := range s.mix {
			s.mix[i] = rng.NormFloat64()
		}
		return s
	}
	decay := func(n int, a float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = 10 / (1 + a*float64(i))
		}
		return out
	}
	srcs := []*src{mk(benchEmbed, decay(40, 0.3)), mk(benchEmbed, decay(40, 0.5)), mk(benchEmbed, decay(40, 0.2)), mk(4*benchEmbed, decay(60, 0.4))}
	owner := []int{0, 0, 0, 1, 2, 3} // q, k, v | o | fc | proj
	names := []string{"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj"}
	var layers []Layer
	for i, n := range names {
		layers = append(layers, Layer{Name: n, Rank: 8, DIn: srcs[owner[i]].d})
	}
	sample := func(s *src, r *rand.Rand) []float32 {
		x := make([]float32, benchRows*s.d)
		z := make([]float64, len(s.std))
		for i := 0; i < benchRows; i++ {
			for l, sd := range s.std {
				z[l] = sd * r.NormFloat64()
			}
			row := x[i*s.d : (i+1)*s.d]
			for j := range row {
				var v float64
				for l := range z {
					v += z[l] * s.mix[l*s.d+j]
				}
				row[j] = float32(v + 0.1*r.NormFloat64())
			}
		}
		return x
	}
	// Pre-draw the minibatches so the benchmark times EVA, not the data generator.
	const pool = 12
	data := make([][][]float32, pool)
	r := rand.New(rand.NewPCG(3, 3))
	for i := range data {
		for _, s := range srcs {
			data[i] = append(data[i], sample(s, r))
		}
	}
	for _, method := range methods {
		b.Run(method, func(b *testing.B) { benchPass(b, method, layers, owner, data) })
	}
}

func benchPass(b *testing.B, method string, layers []Layer, owner []int, data [][][]float32) {
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	batches := 0
	for i := 0; i < b.N; i++ {
		cfg := DefaultConfig()
		cfg.MaxBatches, cfg.PCA = len(data), method
		p, err := NewPass(cfg, layers, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s, err := p.Run(context.Background(), func([]bool) ([]Rows, error) {
			d := data[p.Batches()]
			rows := make([]Rows, len(layers))
			for j := range layers {
				rows[j] = Rows{Data: d[owner[j]], N: benchRows, D: layers[j].DIn}
			}
			return rows, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		batches += s.Batches
	}
	reportCPU(b, c0)
	b.ReportMetric(float64(batches)/float64(b.N), "minibatches/op")
}

// BenchmarkComputeReferenceDT runs the whole EVA pass, forward passes included, on
// the reference DT of DESIGN.md (embed 128, 3 blocks, 4 heads, K = 20; 18 target
// layers, r = 8, rho = 2) with minibatches of 64 random left-padded windows, up to
// 40 minibatches. Compare with the time of a fine-tuning step to get EVA's share of
// a run.
func BenchmarkComputeReferenceDT(b *testing.B) {
	act := policy.ActionSpace{Dim: 2, Low: []float32{-1, -1}, High: []float32{1, 1}}
	pc := policy.DefaultConfig(4, act)
	pc.Dropout = 0
	m, err := policy.New(pc, rand.New(rand.NewPCG(1, 1)), nn.GonumGemm{})
	if err != nil {
		b.Fatal(err)
	}
	m.SetTrain(false)
	for _, method := range methods {
		b.Run(method, func(b *testing.B) { benchCompute(b, m, method) })
	}
}

func benchCompute(b *testing.B, m *policy.Model, method string) {
	cfg := DefaultConfig()
	cfg.MaxBatches, cfg.AcceptUnconverged, cfg.PCA = 40, true, method
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	batches := 0
	for i := 0; i < b.N; i++ {
		src := &batchSource{m: m, rng: rand.New(rand.NewPCG(2, 2)), b: 64}
		s, err := Compute(context.Background(), m, lora.DefaultConfig(), cfg, src.forward, Options{})
		if err != nil {
			b.Fatal(err)
		}
		batches += s.Batches
	}
	reportCPU(b, c0)
	b.ReportMetric(float64(batches)/float64(b.N), "minibatches/op")
}

// BenchmarkLoRAStepReferenceDT is one LoRA fine-tuning step (forward, loss,
// backward; no optimizer) of the same model and batch size, on the same backend as
// BenchmarkComputeReferenceDT: the EVA pass costs that benchmark's time divided by
// this one, in training steps.
func BenchmarkLoRAStepReferenceDT(b *testing.B) {
	act := policy.ActionSpace{Dim: 2, Low: []float32{-1, -1}, High: []float32{1, 1}}
	pc := policy.DefaultConfig(4, act)
	rng := rand.New(rand.NewPCG(1, 1))
	m, err := policy.New(pc, rng, nn.GonumGemm{})
	if err != nil {
		b.Fatal(err)
	}
	lm, err := lora.Apply(m, lora.DefaultConfig(), lora.Options{Rng: rng})
	if err != nil {
		b.Fatal(err)
	}
	m.SetTrain(true)
	bt := windows(pc, 64, rng)
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		lm.Params().ZeroGrad()
		if err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Loss(bt, 0)
		m.Backward()
	}
	reportCPU(b, c0)
}
