package nn

import (
	"math"
	"strings"
	"testing"
)

// TestLAMBHandComputed checks two steps against values worked out by hand from the
// update in LAMB's doc (lr 0.1, β 0.9/0.999, ε 1e-8, λ 0.1), on w = (3, 4):
//
//	step 1, g = (0.5, −0.25): m̂/(√v̂+ε) = (1, −1); r = (1 + 0.3, −1 + 0.4) = (1.3, −0.6);
//	  ‖w‖ = 5, ‖r‖ = √2.05, φ = 3.4921516; w = (3 − 0.45398, 4 + 0.20953) = (2.5460203, 4.2095291)
//	step 2, g = (0.5, 0.5): m̂/(√v̂+ε) = (1, 0.366104) (as in TestAdamWHandComputed);
//	  r = (1.2546020, 0.7870569); ‖w‖ = 4.9195889, ‖r‖ = 1.4810415, φ = 3.3217089;
//	  w = (2.1292780, 3.9480918)
//
// A rank-1 parameter left out of decay by DecayMatrices takes Adam's step, no trust
// ratio: (1, −2) → (0.9, −1.9) → (0.8, −1.9366104); a decayed parameter that is all
// zeros has ‖w‖ = 0, so φ = 1: it moves by lr·r = −0.1·(1, −1) first.
func TestLAMBHandComputed(t *testing.T) {
	w, bias, zero := NewParam("w", 1, 2), NewParam("b", 2), NewParam("z", 1, 2)
	copy(w.Data, []float32{3, 4})
	copy(bias.Data, []float32{1, -2})
	decay, err := DecayMatrices()
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewLAMB([]*Param{w, bias, zero}, AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Decay: decay})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		g                   []float32
		wantW, wantB, wantZ []float64
	}{
		{[]float32{0.5, -0.25}, []float64{2.5460203, 4.2095291}, []float64{0.9, -1.9}, []float64{-0.1, 0.1}},
		{[]float32{0.5, 0.5}, []float64{2.1292780, 3.9480918}, []float64{0.8, -1.9366104}, nil},
	} {
		for _, p := range []*Param{w, bias, zero} {
			copy(p.Grad, step.g)
		}
		o.Step(0.1)
		check := func(p *Param, want []float64) {
			for i := range want {
				if got := float64(p.Data[i]); math.Abs(got-want[i]) > 2e-6 {
					t.Errorf("step %d: %s[%d] = %.8f, want %.8f", o.StepCount(), p.Name, i, got, want[i])
				}
			}
		}
		check(w, step.wantW)
		check(bias, step.wantB)
		check(zero, step.wantZ)
	}
}

// TestLAMBMatchesPaper runs 30 steps with a warm-up cosine schedule against Algorithm
// 2 of You et al. (2020) written out in float64 (φ the identity): x ← x − η·‖x‖/‖r +
// λx‖·(r + λx) with r = m̂/(√v̂ + ε) per layer, the undecayed layers taking r alone.
func TestLAMBMatchesPaper(t *testing.T) {
	const steps = 30
	params, grads := adamWTestParams(5, steps)
	frozenBefore := append([]float32(nil), params[3].Data...)
	decay, err := DecayMatrices("emb*")
	if err != nil {
		t.Fatal(err)
	}
	cfg := AdamWConfig{Beta1: 0.8, Beta2: 0.95, Eps: 1e-6, WeightDecay: 0.05, Decay: decay}
	sched := WarmupCosine{Peak: 0.05, Floor: 0.005, Warmup: 5, Total: 25}
	o, err := NewLAMB(params, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Params()) != 3 {
		t.Fatalf("optimizer over %d params, want 3 (the frozen one left out)", len(o.Params()))
	}
	x := make([][]float64, 3)
	m := make([][]float64, 3)
	v := make([][]float64, 3)
	for i := range 3 {
		for _, e := range params[i].Data {
			x[i] = append(x[i], float64(e))
		}
		m[i] = make([]float64, len(x[i]))
		v[i] = make([]float64, len(x[i]))
	}
	for s := range steps {
		lr := sched.LR(o.StepCount())
		for i := range 3 {
			copy(params[i].Grad, grads[s][i])
		}
		o.Step(lr)
		tt := float64(s + 1)
		for i := range 3 {
			lambda := 0.0
			if i == 0 { // only l.weight: l.bias is rank 1, emb.weight excluded
				lambda = cfg.WeightDecay
			}
			u := make([]float64, len(x[i]))
			var xn, un float64
			for j := range x[i] {
				g := float64(grads[s][i][j])
				m[i][j] = cfg.Beta1*m[i][j] + (1-cfg.Beta1)*g
				v[i][j] = cfg.Beta2*v[i][j] + (1-cfg.Beta2)*g*g
				mh := m[i][j] / (1 - math.Pow(cfg.Beta1, tt))
				vh := v[i][j] / (1 - math.Pow(cfg.Beta2, tt))
				u[j] = mh/(math.Sqrt(vh)+cfg.Eps) + lambda*x[i][j]
				xn += x[i][j] * x[i][j]
				un += u[j] * u[j]
			}
			ratio := 1.0
			if lambda > 0 {
				ratio = math.Sqrt(xn) / math.Sqrt(un)
			}
			for j := range x[i] {
				x[i][j] -= lr * ratio * u[j]
			}
		}
	}
	for i := range 3 {
		for j, got := range params[i].Data {
			if math.Abs(float64(got)-x[i][j]) > 5e-6*(1+math.Abs(x[i][j])) {
				t.Errorf("%s[%d] = %.7f, the paper's LAMB %.7f", params[i].Name, j, got, x[i][j])
			}
		}
	}
	for j, e := range params[3].Data {
		if e != frozenBefore[j] {
			t.Errorf("frozen parameter changed at %d", j)
		}
	}
}

// Saving after 4 steps and loading into a fresh LAMB over restored weights continues
// bit for bit; a state of the wrong shape is refused with AdamW's checks.
func TestLAMBResume(t *testing.T) {
	const steps, cut = 8, 4
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 5e-4}
	run := func(params []*Param, o Optimizer, grads [][][]float32, from, to int) {
		for s := from; s < to; s++ {
			for i, p := range params {
				if p.Trainable() {
					copy(p.Grad, grads[s][i])
				}
			}
			o.Step(0.01)
		}
	}
	full, grads := adamWTestParams(6, steps)
	of, _ := NewOptimizer(full, OptimizerConfig{Kind: OptimizerLAMB, AdamWConfig: cfg})
	if _, ok := of.(*LAMB); !ok {
		t.Fatalf("NewOptimizer(kind lamb) built a %T", of)
	}
	run(full, of, grads, 0, steps)

	first, _ := adamWTestParams(6, steps)
	o1, _ := NewLAMB(first, cfg)
	run(first, o1, grads, 0, cut)
	saved := AdamWState{Step: o1.State().Step}
	for _, tn := range o1.State().Tensors {
		saved.Tensors = append(saved.Tensors, &Param{Name: tn.Name, Shape: tn.Shape, Data: append([]float32(nil), tn.Data...)})
	}
	resumed, _ := adamWTestParams(77, steps)
	for i, p := range resumed {
		copy(p.Data, first[i].Data)
	}
	o2, _ := NewLAMB(resumed, cfg)
	bad := AdamWState{Step: 4, Tensors: saved.Tensors[1:]}
	if err := o2.LoadState(bad); err == nil || !strings.Contains(err.Error(), `lamb state: missing tensor "l.weight.exp_avg"`) {
		t.Errorf("state without a moment: %v", err)
	}
	if err := o2.LoadState(saved); err != nil {
		t.Fatal(err)
	}
	run(resumed, o2, grads, cut, steps)
	for i, p := range resumed {
		for j, e := range p.Data {
			if e != full[i].Data[j] {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", p.Name, j, e, full[i].Data[j])
			}
		}
	}
}

func TestOptimizerConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     OptimizerConfig
		want    string // the type built, or the error
		wantErr bool
	}{
		{OptimizerConfig{AdamWConfig: DefaultAdamWConfig()}, "*nn.AdamW", false},
		{OptimizerConfig{Kind: OptimizerAdamW, AdamWConfig: DefaultAdamWConfig()}, "*nn.AdamW", false},
		{OptimizerConfig{Kind: OptimizerLAMB, AdamWConfig: DefaultAdamWConfig()}, "*nn.LAMB", false},
		{OptimizerConfig{Kind: "sgd", AdamWConfig: DefaultAdamWConfig()}, `kind = "sgd"`, true},
		{OptimizerConfig{Kind: OptimizerLAMB}, "eps = 0", true},
	} {
		o, err := NewOptimizer(nil, tc.cfg)
		switch {
		case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err %v, want one containing %s", tc.cfg, err, tc.want)
		case !tc.wantErr && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case !tc.wantErr && typeName(o) != tc.want:
			t.Errorf("%+v built %s, want %s", tc.cfg, typeName(o), tc.want)
		}
	}
}

func typeName(o Optimizer) string {
	switch o.(type) {
	case *AdamW:
		return "*nn.AdamW"
	case *LAMB:
		return "*nn.LAMB"
	}
	return "?"
}

func TestLAMBStepNoAllocs(t *testing.T) {
	params, grads := adamWTestParams(7, 1)
	o, _ := NewLAMB(params, AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 5e-4})
	for i, p := range params {
		if p.Trainable() {
			copy(p.Grad, grads[0][i])
		}
	}
	if n := testing.AllocsPerRun(10, func() { o.Step(1e-3) }); n != 0 {
		t.Errorf("Step allocates %v times, want 0", n)
	}
}

// A tensor that starts at zero (LoRA's B) under LAMB: the first step is Adam's (the
// trust ratio is 1 while ‖w‖ = 0), after which each step scales by ‖w‖/‖r‖ and w
// grows only by the factor 1 + lr·(1 + λ) per step — about 1.1e-3 after 100 steps of
// a constant gradient at lr 1e-3, where AdamW has moved 0.1. This is why the agents
// package documents AdamW for zero-initialised adapters.
func TestLAMBZeroInitGrowsSlowly(t *testing.T) {
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 5e-4}
	grow := func(o Optimizer, w *Param) float64 {
		for range 100 {
			w.Grad[0] = 1
			o.Step(1e-3)
		}
		return math.Abs(float64(w.Data[0]))
	}
	wl, wa := NewParam("lora_B", 1, 1), NewParam("lora_B", 1, 1)
	l, _ := NewLAMB([]*Param{wl}, cfg)
	a, _ := NewAdamW([]*Param{wa}, cfg)
	lamb, adam := grow(l, wl), grow(a, wa)
	// LAMB: |w₁| = lr, then |w_{t+1}| = |w_t|·(1 + lr·(1 + λ·|w_t|)/|r_t|) with r ≈ 1.
	want := 1e-3 * math.Pow(1+1e-3, 99)
	if math.Abs(lamb-want) > 2e-6 {
		t.Errorf("LAMB moved a zero-initialised weight to %.6g in 100 steps, want %.6g", lamb, want)
	}
	if math.Abs(adam-0.1) > 1e-3 {
		t.Errorf("AdamW moved it to %.4g, want 0.1", adam)
	}
}
