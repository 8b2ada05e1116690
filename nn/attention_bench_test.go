package nn

import (
	"math/rand/v2"
	"testing"
	"time"
)

// reportCPU adds the process CPU time per op since cpu0 (see processCPU).
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu0 > 0 {
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkAttention times one forward and backward of the reference model's
// attention (B=64, T=60 tokens, C=128, 4 heads, left padding) on each available
// backend, after a warm-up pass. The kernels allocate nothing (allocs/op 0 on
// OpenBLAS); on gonum the allocations are gonum's own parallel sgemm's.
func BenchmarkAttention(b *testing.B) {
	const bs, tt, c, nHead = 64, 60, 128, 4
	backends := []string{BLASGonum, BLASOpenBLAS}
	for _, name := range backends {
		b.Run(name, func(b *testing.B) {
			sel, err := SelectGemm(name)
			if err != nil {
				b.Skip(err)
			}
			rng := rand.New(rand.NewPCG(41, 42))
			a := NewAttention("attn", c, nHead, sel.Gemm)
			for _, l := range []*Linear{a.Q, a.K, a.V, a.O} {
				l.InitNormal(rng, 0.02)
			}
			x := randn(rng, bs*tt*c, 1)
			dout := randn(rng, bs*tt*c, 1)
			out, dx := make([]float32, bs*tt*c), make([]float32, bs*tt*c)
			mask := make([]bool, bs*tt)
			for i := range mask {
				mask[i] = i%tt >= 6 // some left padding in every sequence
			}
			a.Forward(x, out, bs, tt, mask)
			a.Backward(x, dout, dx, bs, tt)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				a.Forward(x, out, bs, tt, mask)
				a.Backward(x, dout, dx, bs, tt)
			}
			reportCPU(b, cpu0)
		})
	}
}
