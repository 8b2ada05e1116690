package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// gaussianInputs returns mu, logStd and squashed actions (n, d) of moderate size, with
// one action at the clip boundary.
func gaussianInputs(n, d int) (mu, logStd, action []float32) {
	rng := rand.New(rand.NewPCG(21, 22))
	mu, logStd = randn(rng, n*d, 1), randn(rng, n*d, 0.5)
	action = make([]float32, n*d)
	for i := range action {
		action[i] = float32(math.Tanh(rng.NormFloat64()))
	}
	action[1] = 1 // clipped to ActionClip
	return mu, logStd, action
}

func TestTanhGaussianLogProbMatchesGorgonia(t *testing.T) {
	const n, d = 4, 3
	mu, logStd, action := gaussianInputs(n, d)
	rng := rand.New(rand.NewPCG(23, 24))
	dlogp := randn(rng, n, 1)
	logp := make([]float32, n)
	TanhGaussianLogProb(mu, logStd, action, logp, n, d)
	dmu, dls := make([]float32, n*d), make([]float32, n*d)
	TanhGaussianLogProbBackward(mu, logStd, action, dlogp, dmu, dls, n, d)

	// log p = −½((u−mu)/σ)² − logσ − ½log2π − log(1 − tanh²u), u = atanh(a) a constant,
	// the Jacobian term written directly (fine at these |u|).
	u, jac := make([]float64, n*d), make([]float64, n*d)
	for i, a := range action {
		u[i] = math.Atanh(math.Max(-ActionClip, math.Min(ActionClip, float64(a))))
		jac[i] = math.Log(1 - math.Pow(math.Tanh(u[i]), 2))
	}
	g := G.NewGraph()
	mun := gNode(g, "mu", mu, n, d)
	lsn := gNode(g, "logstd", logStd, n, d)
	z := G.Must(G.HadamardProd(G.Must(G.Sub(gConst("u", u, n, d), mun)), G.Must(G.Exp(G.Must(G.Neg(lsn))))))
	elem := G.Must(G.Sub(G.Must(G.Sub(gMulS(G.Must(G.Square(z)), -0.5), lsn)), gConst("jac", jac, n, d)))
	lp := gAddS(G.Must(G.Sum(elem, 1)), -float64(d)*0.5*math.Log(2*math.Pi))
	grads := gRun(t, g, gWeighted(g, lp, dlogp), mun, lsn)
	assertClose(t, "logp", logp, gValue(lp), 1e-4, oracleRtol) // ~15 in size: float32 rounding of the sum
	assertClose(t, "dmu", dmu, grads[0], oracleAtol, oracleRtol)
	assertClose(t, "dlogstd", dls, grads[1], oracleAtol, oracleRtol)
}

func TestTanhGaussianEntropySampleMatchesGorgonia(t *testing.T) {
	const n, d = 4, 3
	mu, logStd, _ := gaussianInputs(n, d)
	rng := rand.New(rand.NewPCG(25, 26))
	eps := randn(rng, n*d, 1)
	dent := randn(rng, n, 1)
	ent := make([]float32, n)
	TanhGaussianEntropySample(mu, logStd, eps, ent, n, d)
	dmu, dls := make([]float32, n*d), make([]float32, n*d)
	TanhGaussianEntropySampleBackward(mu, logStd, eps, dent, dmu, dls, n, d)

	// −log p(tanh u) with u = mu + σ·ε, differentiated through u (reparameterisation).
	g := G.NewGraph()
	mun := gNode(g, "mu", mu, n, d)
	lsn := gNode(g, "logstd", logStd, n, d)
	en := gConst("eps", to64(eps), n, d)
	un := G.Must(G.Add(mun, G.Must(G.HadamardProd(G.Must(G.Exp(lsn)), en))))
	th := G.Must(G.Tanh(un))
	logJac := G.Must(G.Log(G.Must(G.Sub(G.NewConstant(1.0), G.Must(G.Square(th))))))
	halfEps2 := make([]float64, n*d)
	for i, e := range eps {
		halfEps2[i] = 0.5 * float64(e) * float64(e)
	}
	elem := G.Must(G.Add(G.Must(G.Add(gConst("eps²/2", halfEps2, n, d), lsn)), logJac))
	e := gAddS(G.Must(G.Sum(elem, 1)), float64(d)*0.5*math.Log(2*math.Pi))
	grads := gRun(t, g, gWeighted(g, e, dent), mun, lsn)
	assertClose(t, "entropy", ent, gValue(e), 1e-4, oracleRtol)
	assertClose(t, "dmu", dmu, grads[0], oracleAtol, oracleRtol)
	assertClose(t, "dlogstd", dls, grads[1], oracleAtol, oracleRtol)
}

// The one-sample estimates average to the entropy of tanh(N(mu, σ²)), which the test
// computes independently by quadrature: H = H_Gauss + E[log(1 − tanh²u)], the
// expectation a Simpson sum over mu ± 10σ.
func TestTanhGaussianEntropySampleMean(t *testing.T) {
	const n, d, m, sigma = 200000, 1, 0.5, 0.8
	mu, logStd := make([]float32, n), make([]float32, n)
	for i := range logStd {
		mu[i], logStd[i] = m, float32(math.Log(sigma))
	}
	eps := randn(rand.New(rand.NewPCG(27, 28)), n, 1)
	ent, gauss := make([]float32, n), make([]float32, n)
	TanhGaussianEntropySample(mu, logStd, eps, ent, n, d)
	GaussianEntropy(logStd, gauss, n, d)
	var mean float64
	for _, e := range ent {
		mean += float64(e) / n
	}

	const steps = 4000 // even, for Simpson's rule
	lo, h := m-10*sigma, 20*sigma/steps
	var integral float64
	for i := 0; i <= steps; i++ {
		u := lo + float64(i)*h
		w := 2.0
		switch {
		case i == 0 || i == steps:
			w = 1
		case i%2 == 1:
			w = 4
		}
		pdf := math.Exp(-0.5*math.Pow((u-m)/sigma, 2)) / (sigma * math.Sqrt(2*math.Pi))
		integral += w * pdf * math.Log(1-math.Pow(math.Tanh(u), 2))
	}
	integral *= h / 3
	wantGauss := 0.5 + 0.5*math.Log(2*math.Pi) + math.Log(sigma)
	want := wantGauss + integral
	// Standard error of the mean here is about 0.002 (the ½ε² and Jacobian terms).
	if math.Abs(mean-want) > 0.01 {
		t.Errorf("mean sampled entropy %.5f, want %.5f (quadrature)", mean, want)
	}
	if math.Abs(float64(gauss[0])-wantGauss) > 1e-6 {
		t.Errorf("Gaussian entropy %v, want %v", gauss[0], wantGauss)
	}
}

func TestLogDetTanhStable(t *testing.T) {
	tests := []struct{ u, want float64 }{
		{0, 0},
		{0.5, math.Log(1 - math.Pow(math.Tanh(0.5), 2))},
		{-3, math.Log(1 - math.Pow(math.Tanh(-3), 2))},
		// 1 − tanh²(40) rounds to 0 in float64; the asymptote is 2(log 2 − |u|).
		{40, 2 * (math.Ln2 - 40)},
		{-40, 2 * (math.Ln2 - 40)},
	}
	for _, tc := range tests {
		if got := logDetTanh(tc.u); math.Abs(got-tc.want) > 1e-9*math.Max(1, math.Abs(tc.want)) {
			t.Errorf("logDetTanh(%v) = %v, want %v", tc.u, got, tc.want)
		}
	}
}
