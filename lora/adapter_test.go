package lora

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evarl/evarl/nn"
)

func TestFreshAdapterEqualsBase(t *testing.T) {
	for _, init := range []string{InitRandom, InitGaussian} {
		base := newToy(1)
		x := randRows(rand.New(rand.NewPCG(2, 2)), 6*8)
		want := base.forward(x, 6)
		cfg := toyConfig()
		cfg.Init = init
		m, err := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(3, 3))})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Adapters) != 3 {
			t.Fatalf("%s: %d adapters, want 3 (q, fc, proj; not head)", init, len(m.Adapters))
		}
		if d := maxAbsDiff(base.forward(x, 6), want); d != 0 {
			t.Errorf("%s: B = 0 changes the output by %v", init, d)
		}
		for _, p := range base.Params().All() {
			if p.Trainable() {
				t.Errorf("%s: base parameter %s left trainable", init, p.Name)
			}
		}
	}
}

func TestInitDistributions(t *testing.T) {
	base := newToy(1)
	cfg := toyConfig()
	cfg.R = 4
	m, _ := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(4, 4))})
	a, _ := m.Adapter("blocks.0.mlp.proj") // in = 16: bound 1/4
	maxAbs := 0.0
	for _, v := range a.A.Data {
		maxAbs = max(maxAbs, math.Abs(float64(v)))
	}
	if maxAbs > 0.25 || maxAbs < 0.2 {
		t.Errorf("random init: max |A| = %v, want close to and at most 1/√16 = 0.25", maxAbs)
	}

	base = newToy(1)
	cfg.Init = InitGaussian
	cfg.R = 8
	cfg.TargetModules = []string{"mlp.fc"}
	big := nn.NewLinear("big.mlp.fc", 400, 4, false, nn.GonumGemm{})
	base.linears = append(base.linears, big)
	base.params.Add(big.Params()...)
	m, _ = Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(5, 5))})
	a, _ = m.Adapter("big.mlp.fc")
	var ss float64
	for _, v := range a.A.Data {
		ss += float64(v) * float64(v)
	}
	if std := math.Sqrt(ss / float64(len(a.A.Data))); math.Abs(std-1.0/8) > 0.01 {
		t.Errorf("gaussian init: std %v over %d values, want 1/r = 0.125", std, len(a.A.Data))
	}
}

func TestMergeUnmerge(t *testing.T) {
	base := newToy(1)
	rng := rand.New(rand.NewPCG(6, 6))
	x := randRows(rng, 7*8)
	baseOut := base.forward(x, 7)
	w0 := append([]float32(nil), base.linears[1].W.Data...)
	cfg := toyConfig()
	cfg.Alpha = 16
	m, err := Apply(base, cfg, Options{Rng: rng})
	if err != nil {
		t.Fatal(err)
	}
	perturbB(m, rng)
	unmerged := base.forward(x, 7)
	if d := maxAbsDiff(unmerged, baseOut); d < 1e-3 {
		t.Fatalf("trained adapter changes the output by only %v", d)
	}
	if err := m.Merge(true); err != nil {
		t.Fatal(err)
	}
	merged := base.forward(x, 7)
	if d := maxAbsDiff(merged, unmerged); d > 1e-5 {
		t.Errorf("merged and unmerged outputs differ by %v", d)
	}
	if err := m.Merge(true); err == nil {
		t.Error("merging twice: no error")
	}
	if err := m.Unmerge(); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(base.linears[1].W.Data, w0); d > 1e-6 {
		t.Errorf("unmerge leaves the weight %v from the original", d)
	}
	if d := maxAbsDiff(base.forward(x, 7), unmerged); d > 1e-5 {
		t.Errorf("after unmerge the output moved by %v", d)
	}

	// Safe merge refuses non-finite results and leaves every layer unmerged.
	m.Adapters[2].B.Data[0] = float32(math.Inf(1))
	err = m.Merge(true)
	if err == nil || !strings.Contains(err.Error(), "blocks.0.mlp.proj") {
		t.Fatalf("safe merge of an Inf adapter: error %v, want one naming the layer", err)
	}
	if d := maxAbsDiff(base.linears[1].W.Data, w0); d > 1e-6 {
		t.Errorf("a refused merge changed another layer's weight by %v", d)
	}
	for _, a := range m.Adapters {
		if a.Merged() {
			t.Errorf("%s left merged after a refused merge", a.Layer.Name)
		}
	}
}

// The initialisations that move W into the adapter keep the layer's function:
// W_res + scale·B·A = W.
func TestResidualInitsPreserveOutput(t *testing.T) {
	for _, init := range []string{InitPiSSA, InitOLoRA} {
		for _, rs := range []bool{false, true} {
			base := newToy(7)
			x := randRows(rand.New(rand.NewPCG(8, 8)), 5*8)
			want := base.forward(x, 5)
			cfg := toyConfig()
			cfg.R, cfg.Alpha, cfg.Init, cfg.UseRSLoRA = 4, 8, init, rs
			m, err := Apply(base, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(base.forward(x, 5), want); d > 1e-5 {
				t.Errorf("%s (rslora %v): output moved by %v", init, rs, d)
			}
			for _, a := range m.Adapters {
				checkResidualInit(t, init, a)
			}
		}
	}
}

// checkResidualInit checks the structure of the factors: PiSSA's A·Aᵀ and BᵀB are
// diag(S_r)/scale with the top singular values; OLoRA's B has orthonormal columns
// and A is upper triangular.
func checkResidualInit(t *testing.T, init string, a *Adapter) {
	t.Helper()
	r, in, out := a.R, a.Layer.In, a.Layer.Out
	gram := func(rowsA bool, i, j int) float64 {
		var s float64
		if rowsA {
			for c := 0; c < in; c++ {
				s += float64(a.A.Data[i*in+c]) * float64(a.A.Data[j*in+c])
			}
		} else {
			for o := 0; o < out; o++ {
				s += float64(a.B.Data[o*r+i]) * float64(a.B.Data[o*r+j])
			}
		}
		return s
	}
	for i := 0; i < r; i++ {
		for j := 0; j < r; j++ {
			switch init {
			case InitPiSSA:
				ga, gb := gram(true, i, j), gram(false, i, j)
				if i != j && (math.Abs(ga) > 1e-4 || math.Abs(gb) > 1e-4) {
					t.Errorf("pissa %s: A rows / B columns %d,%d not orthogonal (%v, %v)", a.Layer.Name, i, j, ga, gb)
				}
				if i == j && math.Abs(ga-gb) > 1e-4*(1+ga) {
					t.Errorf("pissa %s: |A_%d|² = %v but |B_%d|² = %v; want both S/scale", a.Layer.Name, i, ga, i, gb)
				}
				if i == j && i > 0 && ga > gram(true, i-1, i-1)+1e-5 {
					t.Errorf("pissa %s: singular values not descending at %d", a.Layer.Name, i)
				}
			case InitOLoRA:
				want := 0.0
				if i == j {
					want = 1
				}
				if g := gram(false, i, j); math.Abs(g-want) > 1e-5 {
					t.Errorf("olora %s: BᵀB[%d,%d] = %v, want %v", a.Layer.Name, i, j, g, want)
				}
				if j < i && a.A.Data[i*in+j] != 0 {
					t.Errorf("olora %s: A[%d,%d] = %v below the diagonal", a.Layer.Name, i, j, a.A.Data[i*in+j])
				}
			}
		}
	}
}

func TestRankZeroAndFailureRollback(t *testing.T) {
	base := newToy(1)
	cfg := toyConfig()
	cfg.RankPattern = map[string]int{"mlp.fc": 0}
	m, err := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Adapter("blocks.0.mlp.fc"); ok || base.linears[1].Adapter != nil {
		t.Error("rank 0 layer got an adapter")
	}
	// q: A 8×8 + B 8×8; proj: A 8×16 + B 8×8
	if got := m.Report(); got.Trainable != 128+192 {
		t.Errorf("trainable %d, want 320 (no fc adapter)", got.Trainable)
	}

	// pissa with r larger than a layer allows fails after earlier layers were
	// initialised: the base must come back unchanged and trainable.
	base = newToy(2)
	x := randRows(rand.New(rand.NewPCG(2, 9)), 3*8)
	want := base.forward(x, 3)
	cfg = toyConfig()
	cfg.Init, cfg.R = InitPiSSA, 8
	cfg.TargetModules = []string{"attn.q", "head"} // head is 3 wide: r 8 is too large
	if _, err := Apply(base, cfg, Options{}); err == nil || !strings.Contains(err.Error(), "head") {
		t.Fatalf("pissa r 8 on a 3-wide layer: error %v", err)
	}
	if d := maxAbsDiff(base.forward(x, 3), want); d > 1e-5 {
		t.Errorf("failed Apply left the output moved by %v", d)
	}
	for _, l := range base.linears {
		if l.Adapter != nil || !l.W.Trainable() {
			t.Errorf("%s: adapter %v, trainable %v after a failed Apply", l.Name, l.Adapter != nil, l.W.Trainable())
		}
	}
	cfg.TargetModules = []string{"attn.nope"}
	if _, err := Apply(base, cfg, Options{}); err == nil || !strings.Contains(err.Error(), `entry "attn.nope" matches none`) {
		t.Fatalf("no matching target: error %v", err)
	}
}

func TestReport(t *testing.T) {
	base := newToy(1)
	cfg := toyConfig()
	cfg.R = 2
	m, _ := Apply(base, cfg, Options{Rng: rand.New(rand.NewPCG(1, 1))})
	// base: tables 6·8+3·8 = 72, q 8·8+8, fc 16·8+16, proj 8·16+8, head 3·8+3
	// = 72+72+144+136+27 = 451
	// adapters r=2: q 2·8+8·2, fc 2·8+16·2, proj 2·16+8·2 = 32+48+48 = 128
	r := m.Report()
	if r.Trainable != 128 || r.Total != 451+128 {
		t.Fatalf("report %+v, want 128 trainable of 579", r)
	}
	if got, want := r.String(), "trainable params: 128 || all params: 579 || trainable%: 22.1071"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := commas(1234567); got != "1,234,567" {
		t.Errorf("commas = %q", got)
	}
}
