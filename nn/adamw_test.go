package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestAdamWHandComputed checks two steps on two elements against values worked out
// by hand from torch.optim.AdamW's update (lr 0.1, β 0.9/0.999, ε 1e-8, λ 0.1):
//
//	step 1, g = (0.5, −0.25): p·(1−0.01) = (0.99, −1.98); m = (0.05, −0.025);
//	  v = (2.5e-4, 6.25e-5); m̂ = (0.5, −0.25); √v̂ = (0.5, 0.25);
//	  p = (0.99 − 0.1, −1.98 + 0.1) = (0.89, −1.88)
//	step 2, g = (0.5, 0.5): p·0.99 = (0.8811, −1.8612); m = (0.095, 0.0275);
//	  v = (4.9975e-4, 3.124375e-4); m̂ = (0.5, 0.144737); √v̂ = (0.5, 0.395344);
//	  p = (0.7811, −1.8612 − 0.0366104) = (0.7811, −1.8978104)
//
// A third, rank-1 parameter excluded from decay by DecayMatrices takes the same
// gradients without the decay factor: (1 − 0.1, …).
func TestAdamWHandComputed(t *testing.T) {
	w := NewParam("w", 1, 2)
	bias := NewParam("b", 2)
	copy(w.Data, []float32{1, -2})
	copy(bias.Data, []float32{1, -2})
	decay, err := DecayMatrices()
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewAdamW([]*Param{w, bias}, AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Decay: decay})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		g            []float32
		wantW, wantB []float64
	}{
		{[]float32{0.5, -0.25}, []float64{0.89, -1.88}, []float64{0.9, -1.9}},
		{[]float32{0.5, 0.5}, []float64{0.7811, -1.8978104}, []float64{0.8, -1.9 - 0.0366104}},
	} {
		copy(w.Grad, step.g)
		copy(bias.Grad, step.g)
		o.Step(0.1)
		for i := range 2 {
			if got := float64(w.Data[i]); math.Abs(got-step.wantW[i]) > 1e-6 {
				t.Errorf("step %d: w[%d] = %.8f, want %.8f", o.StepCount(), i, got, step.wantW[i])
			}
			if got := float64(bias.Data[i]); math.Abs(got-step.wantB[i]) > 1e-6 {
				t.Errorf("step %d: b[%d] = %.8f, want %.8f (no decay)", o.StepCount(), i, got, step.wantB[i])
			}
		}
	}
}

// adamWTestParams builds a few trainable parameters of different shapes, one
// frozen parameter and random gradients for nSteps steps.
func adamWTestParams(seed uint64, nSteps int) (params []*Param, grads [][][]float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	params = []*Param{NewParam("l.weight", 4, 3), NewParam("l.bias", 4), NewParam("emb.weight", 5, 2), NewParam("frozen.weight", 2, 2)}
	params[3].SetTrainable(false)
	for _, p := range params {
		InitNormal(rng, p.Data, 1)
	}
	grads = make([][][]float32, nSteps)
	for s := range grads {
		for _, p := range params {
			g := make([]float32, p.Size())
			InitNormal(rng, g, 0.1*float64(s+1))
			grads[s] = append(grads[s], g)
		}
	}
	return params, grads
}

func cloneData(ps []*Param) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = append([]float32(nil), p.Data...)
	}
	return out
}

// TestAdamWMatchesGorgoniaAdam compares AdamW without weight decay to gorgonia's
// AdamSolver (float64), an independent Adam implementation with the same bias
// correction and ε placement, over 10 steps at a constant lr.
func TestAdamWMatchesGorgoniaAdam(t *testing.T) {
	const steps, lr = 10, 0.01
	params, grads := adamWTestParams(1, steps)
	params = params[:3] // gorgonia has no notion of frozen parameters
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	o, err := NewAdamW(params, cfg)
	if err != nil {
		t.Fatal(err)
	}
	type vg struct{ w, g *tensor.Dense }
	var model []G.ValueGrad
	var ref []vg
	for _, p := range params {
		w := make([]float64, p.Size())
		for i, x := range p.Data {
			w[i] = float64(x)
		}
		x := vg{tensor.New(tensor.WithShape(p.Size()), tensor.WithBacking(w)), tensor.New(tensor.WithShape(p.Size()), tensor.Of(tensor.Float64))}
		ref = append(ref, x)
		model = append(model, gorgoniaVG{x.w, x.g})
	}
	solver := G.NewAdamSolver(G.WithLearnRate(lr), G.WithBeta1(cfg.Beta1), G.WithBeta2(cfg.Beta2), G.WithEps(cfg.Eps))
	for s := range steps {
		for i, p := range params {
			copy(p.Grad, grads[s][i])
			gd := ref[i].g.Data().([]float64)
			for j, g := range grads[s][i] {
				gd[j] = float64(g)
			}
		}
		o.Step(lr)
		if err := solver.Step(model); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range params {
		want := ref[i].w.Data().([]float64)
		for j, got := range p.Data {
			if math.Abs(float64(got)-want[j]) > 1e-5 {
				t.Errorf("%s[%d] = %.7f, gorgonia Adam %.7f", p.Name, j, got, want[j])
			}
		}
	}
}

// gorgoniaVG hands a weight and its gradient to gorgonia's solvers.
type gorgoniaVG struct{ w, g *tensor.Dense }

func (x gorgoniaVG) Value() G.Value         { return x.w }
func (x gorgoniaVG) Grad() (G.Value, error) { return x.g, nil }

// TestAdamWMatchesPaper runs 30 steps under a warm-up + cosine schedule, with decay
// on the weight matrix only, against a float64 loop written from Algorithm 2 of
// Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019):
//
//	m_t = β₁m + (1−β₁)g;  v_t = β₂v + (1−β₂)g²;  m̂ = m_t/(1−β₁ᵗ);  v̂ = v_t/(1−β₂ᵗ)
//	θ_t = θ_{t−1} − η_t·(α·m̂/(√v̂ + ε) + λ·θ_{t−1})
//
// with α the peak lr, η_t = lr_t/α the schedule multiplier and λ = α·weight_decay
// (torch scales the decay by the lr; the paper by η_t alone).
func TestAdamWMatchesPaper(t *testing.T) {
	const steps = 30
	params, grads := adamWTestParams(2, steps)
	frozenBefore := append([]float32(nil), params[3].Data...)
	decay, err := DecayMatrices("emb*")
	if err != nil {
		t.Fatal(err)
	}
	cfg := AdamWConfig{Beta1: 0.8, Beta2: 0.95, Eps: 1e-6, WeightDecay: 0.5, Decay: decay}
	sched := WarmupCosine{Peak: 0.05, Floor: 0.005, Warmup: 5, Total: 25}
	o, err := NewAdamW(params, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Params()) != 3 || !o.Decays(0) || o.Decays(1) || o.Decays(2) {
		t.Fatalf("optimizer over %d params, decays %v %v %v; want 3 (frozen left out), decay only on l.weight",
			len(o.Params()), o.Decays(0), o.Decays(1), o.Decays(2))
	}

	alpha := sched.Peak
	lambda := alpha * cfg.WeightDecay
	theta := make([][]float64, 3)
	m := make([][]float64, 3)
	v := make([][]float64, 3)
	for i := range 3 {
		for _, x := range params[i].Data {
			theta[i] = append(theta[i], float64(x))
		}
		m[i] = make([]float64, len(theta[i]))
		v[i] = make([]float64, len(theta[i]))
	}
	for s := range steps {
		lr := sched.LR(o.StepCount())
		for i := range 3 {
			copy(params[i].Grad, grads[s][i])
		}
		o.Step(lr)

		tt := float64(s + 1)
		eta := lr / alpha
		for i := range 3 {
			l := 0.0
			if i == 0 {
				l = lambda
			}
			for j := range theta[i] {
				g := float64(grads[s][i][j])
				m[i][j] = cfg.Beta1*m[i][j] + (1-cfg.Beta1)*g
				v[i][j] = cfg.Beta2*v[i][j] + (1-cfg.Beta2)*g*g
				mh := m[i][j] / (1 - math.Pow(cfg.Beta1, tt))
				vh := v[i][j] / (1 - math.Pow(cfg.Beta2, tt))
				theta[i][j] -= eta * (alpha*mh/(math.Sqrt(vh)+cfg.Eps) + l*theta[i][j])
			}
		}
	}
	for i := range 3 {
		for j, got := range params[i].Data {
			if math.Abs(float64(got)-theta[i][j]) > 2e-6*(1+math.Abs(theta[i][j])) {
				t.Errorf("%s[%d] = %.7f, paper's AdamW %.7f", params[i].Name, j, got, theta[i][j])
			}
		}
	}
	for j, x := range params[3].Data {
		if x != frozenBefore[j] {
			t.Errorf("frozen parameter changed at %d: %v → %v", j, frozenBefore[j], x)
		}
	}
	for _, tn := range o.State().Tensors {
		if strings.HasPrefix(tn.Name, "frozen") {
			t.Errorf("optimizer state for frozen parameter: %s", tn.Name)
		}
	}
}

// TestAdamWResume checks that saving the state after 4 steps and loading it into a
// fresh optimizer over restored weights continues bit for bit like a run that never
// stopped.
func TestAdamWResume(t *testing.T) {
	const steps, cut = 8, 4
	cfg := DefaultAdamWConfig()
	sched := WarmupConstant{Peak: 0.01, Warmup: 3}
	run := func(params []*Param, o *AdamW, grads [][][]float32, from, to int) {
		for s := from; s < to; s++ {
			for i, p := range params {
				if p.Trainable() {
					copy(p.Grad, grads[s][i])
				}
			}
			o.Step(sched.LR(o.StepCount()))
		}
	}
	full, grads := adamWTestParams(3, steps)
	of, _ := NewAdamW(full, cfg)
	run(full, of, grads, 0, steps)

	first, _ := adamWTestParams(3, steps)
	o1, _ := NewAdamW(first, cfg)
	run(first, o1, grads, 0, cut)
	saved := o1.State()
	savedCopy := AdamWState{Step: saved.Step}
	for _, tn := range saved.Tensors {
		savedCopy.Tensors = append(savedCopy.Tensors, &Param{Name: tn.Name, Shape: tn.Shape, Data: append([]float32(nil), tn.Data...)})
	}
	weights := cloneData(first)

	resumed, _ := adamWTestParams(99, steps) // different initial values, overwritten below
	for i, p := range resumed {
		copy(p.Data, weights[i])
	}
	o2, _ := NewAdamW(resumed, cfg)
	if err := o2.LoadState(savedCopy); err != nil {
		t.Fatal(err)
	}
	run(resumed, o2, grads, cut, steps)
	for i, p := range resumed {
		for j, x := range p.Data {
			if x != full[i].Data[j] {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", p.Name, j, x, full[i].Data[j])
			}
		}
	}
	if o2.StepCount() != steps {
		t.Errorf("resumed step count %d, want %d", o2.StepCount(), steps)
	}
}

func TestAdamWLoadStateErrors(t *testing.T) {
	params, _ := adamWTestParams(4, 1)
	o, _ := NewAdamW(params, DefaultAdamWConfig())
	good := func() AdamWState {
		s := AdamWState{Step: 3}
		for _, tn := range o.State().Tensors {
			s.Tensors = append(s.Tensors, &Param{Name: tn.Name, Shape: tn.Shape, Data: make([]float32, len(tn.Data))})
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		mutate  func(s *AdamWState)
		wantErr string
	}{
		{"missing", func(s *AdamWState) { s.Tensors = s.Tensors[1:] }, `missing tensor "l.weight.exp_avg"`},
		{"extra", func(s *AdamWState) {
			s.Tensors = append(s.Tensors, &Param{Name: "frozen.weight.exp_avg", Shape: []int{2, 2}, Data: make([]float32, 4)})
		}, `unexpected tensor "frozen.weight.exp_avg"`},
		{"shape", func(s *AdamWState) { s.Tensors[2].Shape = []int{2, 2} }, `"l.bias.exp_avg" has shape [2 2]`},
		{"length", func(s *AdamWState) { s.Tensors[2].Data = s.Tensors[2].Data[:3] }, `"l.bias.exp_avg" has shape [4] (3 values)`},
		{"duplicate", func(s *AdamWState) { s.Tensors = append(s.Tensors, s.Tensors[0]) }, `"l.weight.exp_avg" appears twice`},
		{"step", func(s *AdamWState) { s.Step = -1 }, "step -1"},
	} {
		s := good()
		tc.mutate(&s)
		err := o.LoadState(s)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err %v, want one containing %s", tc.name, err, tc.wantErr)
		}
		if o.StepCount() != 0 {
			t.Errorf("%s: failed load changed the step count to %d", tc.name, o.StepCount())
		}
	}
	if err := o.LoadState(good()); err != nil || o.StepCount() != 3 {
		t.Errorf("valid state: err %v, step %d; want nil, 3", err, o.StepCount())
	}
}

func TestAdamWConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mutate  func(c *AdamWConfig)
		wantErr string
	}{
		{func(c *AdamWConfig) {}, ""},
		{func(c *AdamWConfig) { c.Beta1 = 1 }, "beta1 = 1"},
		{func(c *AdamWConfig) { c.Beta2 = -0.1 }, "beta2 = -0.1"},
		{func(c *AdamWConfig) { c.Eps = 0 }, "eps = 0"},
		{func(c *AdamWConfig) { c.WeightDecay = math.NaN() }, "weight_decay = NaN"},
	} {
		c := DefaultAdamWConfig()
		tc.mutate(&c)
		_, err := NewAdamW(nil, c)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("config %+v: err %v, want %q", c, err, tc.wantErr)
		}
	}
}

func TestDecayMatrices(t *testing.T) {
	if _, err := DecayMatrices("[bad"); err == nil || !strings.Contains(err.Error(), `"[bad"`) {
		t.Errorf("bad pattern: err %v, want one naming it", err)
	}
	decay, err := DecayMatrices("*embed*", "*.wte")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    *Param
		want bool
	}{
		{NewParam("blocks.0.attn.q.weight", 128, 128), true},
		{NewParam("blocks.0.attn.q.bias", 128), false},
		{NewParam("blocks.0.ln1.weight", 128), false},
		{NewParam("embed_timestep.weight", 1000, 128), false},
		{NewParam("gpt.wte", 10, 4), false},
		{NewParam("head.weight", 6, 128), true},
	} {
		if got := decay(tc.p); got != tc.want {
			t.Errorf("decay(%s %v) = %v, want %v", tc.p.Name, tc.p.Shape, got, tc.want)
		}
	}
}

func TestAdamWStepNoAllocs(t *testing.T) {
	params, grads := adamWTestParams(5, 1)
	for i, p := range params {
		if p.Trainable() {
			copy(p.Grad, grads[0][i])
		}
	}
	o, _ := NewAdamW(params, DefaultAdamWConfig())
	if n := testing.AllocsPerRun(50, func() { o.Step(1e-3) }); n != 0 {
		t.Errorf("Step allocates %v times, want 0", n)
	}
}

// BenchmarkAdamWStep times one update of a DT-sized parameter set (≈0.6 M values).
func BenchmarkAdamWStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(6, 7))
	var params []*Param
	for l := range 3 {
		for _, s := range [][]int{{384, 128}, {128, 128}, {512, 128}, {128, 512}, {128}, {512}} {
			p := NewParam(strings.Repeat("x", l+1), s...)
			InitNormal(rng, p.Grad, 0.01)
			params = append(params, p)
		}
	}
	o, _ := NewAdamW(params, DefaultAdamWConfig())
	b.ReportAllocs()
	for b.Loop() {
		o.Step(1e-4)
	}
}
