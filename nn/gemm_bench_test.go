package nn

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// benchGemms returns the backends to benchmark: gonum always, OpenBLAS (every size
// through the library, no dispatch) when it loads, and the dispatching selection.
func benchGemms(b *testing.B) []Gemm {
	gs := []Gemm{GonumGemm{}}
	if g := openBLASForBench(b); g != nil {
		gs = append(gs, g, &dispatchGemm{large: g, small: GonumGemm{}, minMACs: SmallGemmMACs})
	}
	return gs
}

func benchName(g Gemm) string {
	if _, ok := g.(*dispatchGemm); ok {
		return g.Name() + "+dispatch"
	}
	return g.Name()
}

// gemmShape is one product of the benchmark: C(m×n) = op(A)·op(B), inner size k.
type gemmShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// dtShapes are the products of one training step of the reference DT (batch 64,
// context 20 → 60 tokens, so 3840 token rows; embed 128, MLP 512, 4 heads of 32,
// state dim 17, LoRA rank 8). Linear layers store W as (out, in), so the forward
// pass is x·Wᵀ (transB), the input gradient dy·W and the weight gradient dyᵀ·x.
var dtShapes = []gemmShape{
	{"mlp_up_3840x512x128", false, true, 3840, 512, 128}, // the headline shape of the design measurements
	{"mlp_down_3840x128x512", false, true, 3840, 128, 512},
	{"attn_proj_3840x128x128", false, true, 3840, 128, 128},
	{"qkv_3840x384x128", false, true, 3840, 384, 128},
	{"dx_3840x128x128", false, false, 3840, 128, 128},
	{"dW_128x128x3840", true, false, 128, 128, 3840},
	{"dW_mlp_512x128x3840", true, false, 512, 128, 3840},
	{"scores_60x60x32", false, true, 60, 60, 32}, // per (batch, head)
	{"att_v_60x32x60", false, false, 60, 32, 60},
	{"embed_state_1280x128x17", false, true, 1280, 128, 17},
	{"lora_A_3840x8x128", false, true, 3840, 8, 128},
	{"lora_B_3840x128x8", false, true, 3840, 128, 8},
	// A LoRA adapter's backward: dB += gᵀ·h, dh = g·B, dA += dhᵀ·x, dx += dh·A.
	{"lora_dB_128x8x3840", true, false, 128, 8, 3840},
	{"lora_dh_3840x8x128", false, false, 3840, 8, 128},
	{"lora_dA_8x128x3840", true, false, 8, 128, 3840},
	{"lora_dx_3840x128x8", false, false, 3840, 128, 8},
}

func gemmRandSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(2*rng.Float64() - 1)
	}
	return x
}

func benchShape(b *testing.B, g Gemm, s gemmShape) {
	rng := rand.New(rand.NewPCG(7, 8))
	a, bb, c := gemmRandSlice(rng, s.m*s.k), gemmRandSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm times the DT's products on every backend:
//
//	go test ./nn -run '^$' -bench 'Sgemm$' -benchtime 20x
func BenchmarkSgemm(b *testing.B) {
	for _, g := range benchGemms(b) {
		for _, s := range dtShapes {
			b.Run(benchName(g)+"/"+s.name, func(b *testing.B) { benchShape(b, g, s) })
		}
	}
}

// BenchmarkSgemmCrossover times small products on gonum and on OpenBLAS without
// dispatch: cubes n³ and a few skinny shapes of equal multiply-add count.
// SmallGemmMACs is set from where the two cross. The 1³ case is the per-call
// overhead of the foreign call.
//
//	go test ./nn -run '^$' -bench SgemmCrossover -benchtime 200000x -count 3
func BenchmarkSgemmCrossover(b *testing.B) {
	gs := []Gemm{GonumGemm{}}
	if g := openBLASForBench(b); g != nil {
		gs = append(gs, g)
	}
	var shapes []gemmShape
	for _, n := range []int{1, 2, 4, 5, 6, 7, 8, 12, 16, 32} {
		shapes = append(shapes, gemmShape{fmt.Sprintf("%dx%dx%d", n, n, n), false, false, n, n, n})
	}
	for _, s := range [][3]int{{1, 16, 16}, {16, 16, 1}, {1, 1, 256}, {32, 8, 1}, {1, 128, 128}, {60, 60, 1}} {
		shapes = append(shapes, gemmShape{fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), false, false, s[0], s[1], s[2]})
	}
	for _, g := range gs {
		for _, s := range shapes {
			b.Run(g.Name()+"/"+s.name, func(b *testing.B) { benchShape(b, g, s) })
		}
	}
}

// BenchmarkSgemmParallel runs the headline product on two goroutines at once, as
// trainers do with independent work, and reports the aggregate rate; compare with
// BenchmarkSgemm's single-goroutine figure for the scaling.
//
//	go test ./nn -run '^$' -bench SgemmParallel -benchtime 10x
func BenchmarkSgemmParallel(b *testing.B) {
	const workers = 2
	s := dtShapes[0]
	for _, g := range benchGemms(b) {
		b.Run(benchName(g)+"/"+s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(9, 10))
			type bufs struct{ a, b, c []float32 }
			ws := make([]bufs, workers)
			for i := range ws {
				ws[i] = bufs{gemmRandSlice(rng, s.m*s.k), gemmRandSlice(rng, s.k*s.n), make([]float32, s.m*s.n)}
			}
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for _, w := range ws {
					wg.Go(func() { g.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, w.a, s.k, w.b, s.k, 0, w.c, s.n) })
				}
				wg.Wait()
			}
			flops := workers * 2 * float64(s.m) * float64(s.n) * float64(s.k)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
