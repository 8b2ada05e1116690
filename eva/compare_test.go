package eva_test

// The two PCA methods against a full LAPACK SVD of all rows, in accuracy and time,
// on synthetic data and on the activations of the shipped policies (gridworld and
// Pendulum, rollouts of the pretrained policy on a held-out task, or windows of a
// dataset given with -eva.dataset). TestPCAMethodsAgainstFullSVD checks a small
// stream; the benchmarks measure streams of the quickstart's size:
//
//	go test -run '^$' -bench 'PCAMethods|EVAPass' -benchtime 5x ./eva
//	go test -run '^$' -bench 'PCAMethods|EVAPass' -benchtime 5x ./eva -eva.dataset data/gridworld-heldout/mixed.evds

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/eva/internal/pcaref"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

var (
	datasetFlag = flag.String("eva.dataset", "", "episode file (.evds) of the gridworld held-out tasks for the dataset-window source")
	batchFlag   = flag.Int("eva.batch", 16, "context windows per EVA minibatch in the benchmarks")
)

// source is an activation source: a model, the LoRA config of the pass, and a
// constructor of its minibatch stream (fresh and identically seeded at each call).
type source struct {
	name    string
	model   *policy.Model
	lora    lora.Config
	forward func() eva.Forward
}

// targets are the quickstart's LoRA targets (r 8).
func quickstartLoRA() lora.Config {
	c := lora.DefaultConfig()
	c.R, c.Alpha = 8, 8
	c.TargetModules = []string{"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj"}
	return c
}

// rolloutSource is the quickstart's EVA source: episodes of the pretrained policy on
// a held-out task (finetune.EVARollouts, cut at maxSteps), cut into windows of batch
// windows.
func rolloutSource(t testing.TB, name, ckpt, task string, target float64, episodes, maxSteps, batch int) source {
	t.Helper()
	m, err := policy.Load(ckpt, gemm(t))
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := envs.ResolveTasks(task)
	if err != nil {
		t.Fatal(err)
	}
	cfg := finetune.DefaultEVAConfig()
	cfg.RolloutEpisodes, cfg.RolloutMaxSteps, cfg.NumEnvs = episodes, maxSteps, min(episodes, 16)
	eps, err := finetune.EVARollouts(context.Background(), m, tasks, cfg, target, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return windowSource(t, name, m, eps, batch)
}

// gemm is the backend rl-train runs the policy on: OpenBLAS when the machine has it.
func gemm(t testing.TB) nn.Gemm {
	l := logrus.New()
	l.SetOutput(io.Discard)
	g, err := nn.DefaultGemm(l)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// windowSource draws batch windows from eps as fine-tuning does (replay.Sampler)
// and runs m on them, dropout off.
func windowSource(t testing.TB, name string, m *policy.Model, eps []*replay.Episode, batch int) source {
	s, err := replay.NewSampler(eps)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrain(false)
	return source{name: name, model: m, lora: quickstartLoRA(), forward: func() eva.Forward {
		rng := rand.New(rand.NewPCG(3, 4))
		b := policy.NewBatch(m.Config(), batch)
		return func(ctx context.Context) error {
			if err := s.Sample(rng, b); err != nil {
				return err
			}
			return m.Forward(b)
		}
	}}
}

func datasetSource(t testing.TB, path string) source {
	m, err := policy.Load("../pretrained/gridworld", gemm(t))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := replay.Open(path, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var eps []*replay.Episode
	for _, ep := range ds.Episodes {
		if ep.TaskID == "gridworld/heldout-04" {
			eps = append(eps, ep)
		}
	}
	return windowSource(t, "gridworld-dataset", m, eps, *batchFlag)
}

// capture records the real input rows of every target layer over n minibatches of
// src, with its own observers (independent of package eva's capture), and keeps
// one copy of each distinct input (q, k and v read the same one).
type layerRows struct {
	name    string
	d       int
	batches [][]float32
}

type rowObserver struct {
	data []float32
}

func (o *rowObserver) Observe(x []float32, n, in int, mask []bool) {
	for r := 0; r < n; r++ {
		if mask == nil || mask[r] {
			o.data = append(o.data, x[r*in:(r+1)*in]...)
		}
	}
}

func capture(t testing.TB, src source, n int) []*layerRows {
	t.Helper()
	layers, err := eva.Targets(src.model, src.lora)
	if err != nil {
		t.Fatal(err)
	}
	obs := make([]*rowObserver, len(layers))
	for i, l := range layers {
		lin, _ := src.model.Linear(l.Name)
		obs[i] = &rowObserver{}
		lin.Observer = obs[i]
		defer func() { lin.Observer = nil }()
	}
	out := make([]*layerRows, len(layers))
	for i, l := range layers {
		out[i] = &layerRows{name: l.Name, d: l.DIn}
	}
	fwd := src.forward()
	for b := 0; b < n; b++ {
		for _, o := range obs {
			o.data = nil
		}
		if err := fwd(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, o := range obs {
			out[i].batches = append(out[i].batches, o.data)
		}
	}
	var distinct []*layerRows
	for _, l := range out {
		dup := false
		for _, e := range distinct {
			dup = dup || (e.d == l.d && slices.Equal(e.batches[0], l.batches[0]))
		}
		if !dup {
			distinct = append(distinct, l)
		}
	}
	return distinct
}

// synthetic draws rows of the shipped models' widths (three 64-wide inputs, one
// 256-wide) from latent Gaussians with decaying spectra mixed into the columns, plus
// noise and an offset, 480 rows per minibatch (16 windows of 10 steps, 3 tokens).
func synthetic(n int) []*layerRows {
	rng := rand.New(rand.NewPCG(5, 6))
	var out []*layerRows
	for i, d := range []int{64, 64, 64, 256} {
		lat := 24 + 8*i
		mix := make([]float64, lat*d)
		for j := range mix {
			mix[j] = rng.NormFloat64() / math.Sqrt(float64(d))
		}
		l := &layerRows{name: fmt.Sprintf("synthetic.%d", i), d: d}
		for b := 0; b < n; b++ {
			x := make([]float32, 480*d)
			for r := 0; r < 480; r++ {
				for k := 0; k < lat; k++ {
					z := 10 / (1 + 0.4*float64(k)) * rng.NormFloat64()
					for j := 0; j < d; j++ {
						x[r*d+j] += float32(z * mix[k*d+j])
					}
				}
				for j := 0; j < d; j++ {
					x[r*d+j] += float32(0.5 + 0.2*rng.NormFloat64())
				}
			}
			l.batches = append(l.batches, x)
		}
		out = append(out, l)
	}
	return out
}

// reference is the batch PCA of all rows: the centred rows' full SVD (gonum's
// LAPACK, mat.SVD), the sign convention of EVA.md, the ratios S²/ΣS².
type reference struct {
	comps  [][]float64
	ratios []float64
	gaps   []float64 // relative spectral gap of each component: min distance of S² to its neighbours / S₀²
}

func batchSVD(t testing.TB, l *layerRows, k int) reference {
	t.Helper()
	var all []float32
	for _, b := range l.batches {
		all = append(all, b...)
	}
	pca, err := pcaref.Fit(all, len(all)/l.d, l.d)
	if err != nil {
		t.Fatal(err)
	}
	r := pca.Ratios // S²ᵢ / Σ S², so gaps relative to S₀² are ratio differences over r[0]
	ref := reference{comps: pca.Components[:k], ratios: r[:k]}
	for c := 0; c < k; c++ {
		gap := math.Inf(1)
		if c > 0 {
			gap = r[c-1] - r[c]
		}
		if c+1 < len(r) {
			gap = min(gap, r[c]-r[c+1])
		}
		ref.gaps = append(ref.gaps, gap/r[0])
	}
	return ref
}

// accuracy of one method on one layer's stream against the reference.
type accuracy struct {
	minCos, sumCos float64
	n              int
	minCosR        float64 // over the first r = 8 components only
	maxRatioDiff   float64
	// exactness on well-separated components (relative gap ≥ 1e-4).
	worstSeparated float64
}

func (a *accuracy) add(b accuracy) {
	a.minCos = min(a.minCos, b.minCos)
	a.minCosR = min(a.minCosR, b.minCosR)
	a.sumCos += b.sumCos
	a.n += b.n
	a.maxRatioDiff = max(a.maxRatioDiff, b.maxRatioDiff)
	a.worstSeparated = min(a.worstSeparated, b.worstSeparated)
}

type fitter interface {
	PartialFit(x []float32, n int) (bool, error)
}

func newFitter(method string, k, d int) (fitter, *eva.Estimate) {
	if method == eva.PCAExact {
		p := eva.NewExactPCA(k, d)
		return p, &p.Estimate
	}
	p := eva.NewIPCA(k, d)
	return p, &p.Estimate
}

func fit(t testing.TB, method string, l *layerRows, k int) *eva.Estimate {
	f, e := newFitter(method, k, l.d)
	for _, b := range l.batches {
		if _, err := f.PartialFit(b, len(b)/l.d); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func compare(e *eva.Estimate, ref reference) accuracy {
	acc := accuracy{minCos: 1, minCosR: 1, worstSeparated: 1}
	d := e.D
	for c := 0; c < e.K; c++ {
		v := e.Components[c*d : (c+1)*d]
		var dot float64
		for j := range v {
			dot += v[j] * ref.comps[c][j]
		}
		cs := math.Abs(dot)
		acc.minCos = min(acc.minCos, cs)
		if c < 8 {
			acc.minCosR = min(acc.minCosR, cs)
		}
		acc.sumCos += cs
		acc.n++
		acc.maxRatioDiff = max(acc.maxRatioDiff, math.Abs(e.ExplainedVarianceRatio[c]-ref.ratios[c]))
		if ref.gaps[c] >= 1e-4 {
			acc.worstSeparated = min(acc.worstSeparated, cs)
		}
	}
	return acc
}

// components is what the quickstart's layers keep: round(r·rho) = 16.
const components = 16

var methods = []string{eva.PCAExact, eva.PCAIncremental}

// Small streams (8 minibatches) of each source: the exact PCA equals the batch SVD
// on every well-separated component to 1 − |cos| < 1e-9 and the ratios to 1e-12;
// the incremental PCA is reported beside it (it drifts by design).
func TestPCAMethodsAgainstFullSVD(t *testing.T) {
	streams := map[string]func() []*layerRows{
		"synthetic": func() []*layerRows { return synthetic(8) },
		"gridworld-rollouts": func() []*layerRows {
			return capture(t, rolloutSource(t, "gridworld-rollouts", "../pretrained/gridworld", "gridworld/heldout-04", 1, 8, 50, 16), 8)
		},
		"pendulum-rollouts": func() []*layerRows {
			return capture(t, rolloutSource(t, "pendulum-rollouts", "../pretrained/pendulum", "pendulum/heldout-02", -150, 8, 50, 16), 8)
		},
	}
	for _, name := range []string{"synthetic", "gridworld-rollouts", "pendulum-rollouts"} {
		t.Run(name, func(t *testing.T) {
			layers := streams[name]()
			for _, method := range methods {
				total := accuracy{minCos: 1, minCosR: 1, worstSeparated: 1}
				for _, l := range layers {
					ref := batchSVD(t, l, components)
					acc := compare(fit(t, method, l, components), ref)
					total.add(acc)
					if method == eva.PCAExact && (1-acc.worstSeparated > 1e-9 || acc.maxRatioDiff > 1e-12) {
						t.Errorf("%s: exact PCA: worst |cos| %.12f on separated components, max ratio diff %.2g", l.name, acc.worstSeparated, acc.maxRatioDiff)
					}
				}
				t.Logf("%-11s %d inputs: |cos| over 16 components min %.6f mean %.6f (separated: min %.12f), over the first 8 min %.6f; max ratio diff %.2g",
					method, len(layers), total.minCos, total.sumCos/float64(total.n), total.worstSeparated, total.minCosR, total.maxRatioDiff)
			}
		})
	}
}

var (
	benchOnce    sync.Once
	benchSources map[string]source
)

// quickstartSources are the sources at the quickstart's size: 16 rollouts cut at
// 100 steps, windows of 16.
func quickstartSources(b *testing.B) map[string]source {
	benchOnce.Do(func() {
		benchSources = map[string]source{
			"gridworld-rollouts": rolloutSource(b, "gridworld-rollouts", "../pretrained/gridworld", "gridworld/heldout-04", 1, 16, 100, *batchFlag),
			"pendulum-rollouts":  rolloutSource(b, "pendulum-rollouts", "../pretrained/pendulum", "pendulum/heldout-02", -150, 16, 100, *batchFlag),
		}
		if *datasetFlag != "" {
			benchSources["gridworld-dataset"] = datasetSource(b, *datasetFlag)
		}
	})
	return benchSources
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPCAMethods fits 16 minibatches of each source with each method (one op
// = the whole stream, every distinct layer input) and, as "fullsvd", takes the batch
// SVD of all rows; the methods report their accuracy against it.
func BenchmarkPCAMethods(b *testing.B) {
	streams := map[string][]*layerRows{"synthetic": synthetic(16)}
	for name, src := range quickstartSources(b) {
		streams[name] = capture(b, src, 16)
	}
	for _, name := range []string{"synthetic", "gridworld-rollouts", "gridworld-dataset", "pendulum-rollouts"} {
		layers, ok := streams[name]
		if !ok {
			continue
		}
		refs := make([]reference, len(layers))
		for i, l := range layers {
			refs[i] = batchSVD(b, l, components)
		}
		for _, method := range append(slices.Clone(methods), "fullsvd") {
			b.Run(name+"/"+method, func(b *testing.B) {
				b.ReportAllocs()
				c0 := cpuNow()
				total := accuracy{minCos: 1, minCosR: 1, worstSeparated: 1}
				for i := 0; i < b.N; i++ {
					for li, l := range layers {
						if method == "fullsvd" {
							batchSVD(b, l, components)
							continue
						}
						if i == 0 {
							total.add(compare(fit(b, method, l, components), refs[li]))
						} else {
							fit(b, method, l, components)
						}
					}
				}
				b.ReportMetric(float64(cpuNow()-c0)/1e6/float64(b.N), "cpu-ms/op")
				if method != "fullsvd" {
					// The exact method's values are below the benchmark line's 7 decimals.
					b.Logf("%s: 1 − |cos| over 16 components: max %.2e, mean %.2e; over the first 8: max %.2e; max ratio diff %.2e",
						method, 1-total.minCos, 1-total.sumCos/float64(total.n), 1-total.minCosR, total.maxRatioDiff)
					b.ReportMetric(1-total.minCos, "1-min|cos|")
					b.ReportMetric(1-total.minCosR, "1-min|cos|-first8")
					b.ReportMetric(1-total.sumCos/float64(total.n), "1-mean|cos|")
					b.ReportMetric(total.maxRatioDiff, "max-ratio-diff")
				}
			})
		}
	}
}

// BenchmarkEVAPass runs the whole pass (forward passes, capture, PCA, convergence,
// redistribution) with the quickstart's EVA settings (rho 2, tau 0.99, at most 200
// minibatches) on each source, with each method; "exact-sequential" is the exact
// PCA without the overlap of each forward pass with the previous minibatch's PCA
// (eva.Options.Sequential).
func BenchmarkEVAPass(b *testing.B) {
	srcs := quickstartSources(b)
	for _, name := range []string{"gridworld-rollouts", "gridworld-dataset", "pendulum-rollouts"} {
		src, ok := srcs[name]
		if !ok {
			continue
		}
		for _, variant := range append(slices.Clone(methods), eva.PCAExact+"-sequential") {
			b.Run(name+"/"+variant, func(b *testing.B) {
				method, sequential := strings.CutSuffix(variant, "-sequential")
				cfg := eva.DefaultConfig()
				cfg.PCA, cfg.MaxBatches, cfg.AcceptUnconverged = method, 200, true
				b.ReportAllocs()
				c0 := cpuNow()
				batches := 0
				for i := 0; i < b.N; i++ {
					s, err := eva.Compute(context.Background(), src.model, src.lora, cfg, src.forward(), eva.Options{Sequential: sequential})
					if err != nil {
						b.Fatal(err)
					}
					batches += s.Batches
				}
				b.ReportMetric(float64(cpuNow()-c0)/1e6/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(batches)/float64(b.N), "minibatches/op")
			})
		}
	}
}
