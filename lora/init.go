package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// needRng is the error of a random init without a random source.
func needRng(method string, opt Options) error {
	if opt.Rng == nil {
		return fmt.Errorf("lora: init %q needs a random source (Options.Rng)", method)
	}
	return nil
}

// initialise runs the init method on a Linear adapter.
func (a *Adapter) initialise(method string, opt Options) error {
	switch method {
	case InitRandom, InitGaussian:
		if err := needRng(method, opt); err != nil {
			return err
		}
		if method == InitRandom {
			a.initRandom(opt.Rng)
		} else {
			a.initGaussian(opt.Rng)
		}
	case InitPiSSA:
		return a.lr.initPiSSA()
	case InitOLoRA:
		return a.lr.initOLoRA()
	case InitEVA:
		rows, ok := opt.EvaA[a.Layer.Name]
		if !ok {
			return fmt.Errorf("lora: layer %s has rank %d but no EVA initialisation; compute the EVA state for the same target layers", a.Layer.Name, a.R)
		}
		return a.initPreset(rows)
	}
	return nil
}

// initialise runs the init method on an embedding adapter.
func (a *EmbeddingAdapter) initialise(method string, opt Options) error {
	switch method {
	case InitRandom, InitGaussian:
		if err := needRng(method, opt); err != nil {
			return err
		}
		a.initNormalB(opt.Rng)
	case InitPiSSA:
		return a.lr.initPiSSA()
	case InitOLoRA:
		return a.lr.initOLoRA()
	case InitEVA:
		counts, ok := opt.EvaCounts[a.Layer.Name]
		if !ok {
			return fmt.Errorf("lora: embedding %s has rank %d but no EVA id counts (Options.EvaCounts); the EVA pass must count the ids the table looks up", a.Layer.Name, a.R)
		}
		return a.initEVA(counts)
	}
	return nil
}

// initRandom is PEFT's default (init_lora_weights=True): kaiming_uniform_(A, a=√5),
// whose bound gain·√(3/fan_in) with gain = √(2/(1+a²)) is 1/√in, and B = 0.
func (a *Adapter) initRandom(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(a.Layer.In))
	for i := range a.A.Data {
		a.A.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
	clear(a.B.Data)
}

// initGaussian is PEFT's "gaussian": A ~ N(0, std = 1/r), B = 0.
func (a *Adapter) initGaussian(rng *rand.Rand) {
	std := 1 / float64(a.R)
	for i := range a.A.Data {
		a.A.Data[i] = float32(rng.NormFloat64() * std)
	}
	clear(a.B.Data)
}

// weight64 returns V (out, in) as a float64 matrix.
func (lr *lowRank) weight64() *mat.Dense {
	v := make([]float32, lr.out*lr.in)
	lr.loadV(v)
	w := mat.NewDense(lr.out, lr.in, nil)
	for i, x := range v {
		w.Set(i/lr.in, i%lr.in, float64(x))
	}
	return w
}

// rankHint is the advice for a layer whose rank an init method cannot reach.
func rankHint(name string, k int) string {
	return fmt.Sprintf("give it rank_pattern {%q: %d} or leave it out of target_modules", name, k)
}

// initPiSSA is PEFT's pissa init on V: V = U·S·Vᵀ (full SVD), S_r = S[:r]/scale,
// A = diag(√S_r)·Vᵀ[:r], B = U[:, :r]·diag(√S_r), V ← V − scale·B·A.
func (lr *lowRank) initPiSSA() error {
	r, in, out := lr.r, lr.in, lr.out
	if k := min(in, out); r > k {
		return fmt.Errorf("lora: %s: pissa needs r ≤ min(in, out) = %d, got r = %d; %s", lr.name, k, r, rankHint(lr.name, k))
	}
	var svd mat.SVD
	if !svd.Factorize(lr.weight64(), mat.SVDThin) {
		return fmt.Errorf("lora: %s: SVD of the base weight failed (non-finite weights?)", lr.name)
	}
	s := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	for j := 0; j < r; j++ {
		sq := math.Sqrt(s[j] / float64(lr.scale))
		for c := 0; c < in; c++ {
			lr.a.Data[j*in+c] = float32(sq * v.At(c, j))
		}
		for o := 0; o < out; o++ {
			lr.b.Data[o*r+j] = float32(u.At(o, j) * sq)
		}
	}
	lr.keepResidual()
	return nil
}

// initOLoRA is PEFT's olora init on V: V = Q·R (reduced QR, k = min(out, in)),
// B = Q[:, :r], A = R[:r], V ← V − scale·B·A. The QR is LAPACK's Householder
// dgeqrf/dorgqr (gonum), as torch.linalg.qr uses, so wide weights work too.
func (lr *lowRank) initOLoRA() error {
	r, in, out := lr.r, lr.in, lr.out
	k := min(in, out)
	if r > k {
		return fmt.Errorf("lora: %s: olora needs r ≤ min(in, out) = %d, got r = %d; %s", lr.name, k, r, rankHint(lr.name, k))
	}
	v := make([]float32, out*in)
	lr.loadV(v)
	w := make([]float64, out*in)
	for i, x := range v {
		w[i] = float64(x)
	}
	A := blas64.General{Rows: out, Cols: in, Stride: in, Data: w}
	tau := make([]float64, k)
	query := []float64{0}
	lapack64.Geqrf(A, tau, query, -1)
	work := make([]float64, max(int(query[0]), out, in))
	lapack64.Geqrf(A, tau, work, len(work))
	// R is the upper trapezoid of the factored matrix; A = its first r rows.
	for j := 0; j < r; j++ {
		for c := 0; c < in; c++ {
			x := 0.0
			if c >= j {
				x = w[j*in+c]
			}
			lr.a.Data[j*in+c] = float32(x)
		}
	}
	// Q (out, k) from the reflectors stored below the diagonal.
	q := make([]float64, out*k)
	for i := 0; i < out; i++ {
		copy(q[i*k:(i+1)*k], w[i*in:i*in+k])
	}
	Q := blas64.General{Rows: out, Cols: k, Stride: k, Data: q}
	lapack64.Orgqr(Q, tau, query, -1)
	if n := int(query[0]); n > len(work) {
		work = make([]float64, n)
	}
	lapack64.Orgqr(Q, tau, work, len(work))
	for o := 0; o < out; o++ {
		for j := 0; j < r; j++ {
			lr.b.Data[o*r+j] = float32(q[o*k+j])
		}
	}
	lr.keepResidual()
	return nil
}

// initPreset sets A from given rows (EVA) and B = 0.
func (a *Adapter) initPreset(rows []float32) error {
	if len(rows) != a.R*a.Layer.In {
		return fmt.Errorf("lora: %s: eva init has %d values; want rank %d × in %d", a.Layer.Name, len(rows), a.R, a.Layer.In)
	}
	copy(a.A.Data, rows)
	clear(a.B.Data)
	return nil
}

// initNormalB is PEFT's init of an embedding adapter for every init method without
// one of its own (random, gaussian): A = 0 and B ~ N(0, 1) (loralib's choice,
// nn.Embedding's default), so the table starts unchanged.
func (a *EmbeddingAdapter) initNormalB(rng *rand.Rand) {
	clear(a.A.Data)
	for i := range a.B.Data {
		a.B.Data[i] = float32(rng.NormFloat64())
	}
}

// initEVA is EVA on a table (see the package doc): its input rows are one-hot, so
// the right-singular vectors of the activations are the basis vectors e_id ordered
// by how often id was looked up. A's row j is e of the j-th most frequent id (ties
// to the smaller id; ids never seen come last), and B = 0. counts has N entries.
func (a *EmbeddingAdapter) initEVA(counts []float64) error {
	N := a.Layer.N
	if len(counts) != N {
		return fmt.Errorf("lora: %s: eva init has %d id counts; want one per table row (%d)", a.Layer.Name, len(counts), N)
	}
	total := 0.0
	for id, c := range counts {
		if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
			return fmt.Errorf("lora: %s: eva id count[%d] = %v: want a finite count ≥ 0", a.Layer.Name, id, c)
		}
		total += c
	}
	if total == 0 {
		return fmt.Errorf("lora: %s: the EVA data never looked up this table (all id counts are 0)", a.Layer.Name)
	}
	order := frequencyOrder(counts)
	clear(a.A.Data)
	for j := 0; j < a.R; j++ {
		a.A.Data[j*N+order[j]] = 1
	}
	clear(a.B.Data)
	return nil
}

// frequencyOrder returns the ids sorted by count, most frequent first, ties to the
// smaller id.
func frequencyOrder(counts []float64) []int {
	order := make([]int, len(counts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	return order
}
