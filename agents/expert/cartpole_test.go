package expert

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

// TestDLQRScalar compares the Riccati iteration with the closed form of the scalar
// DARE: b²p² + (r − q·b² − a²·r)·p − q·r = 0, k = a·b·p / (r + b²·p).
func TestDLQRScalar(t *testing.T) {
	tests := []struct{ a, b, q, r float64 }{
		{1, 1, 1, 1},
		{1.2, 0.5, 2, 0.1},
		{0.9, 2, 1, 10},
	}
	for _, tc := range tests {
		c := tc.r - tc.q*tc.b*tc.b - tc.a*tc.a*tc.r
		p := (-c + math.Sqrt(c*c+4*tc.b*tc.b*tc.q*tc.r)) / (2 * tc.b * tc.b)
		want := tc.a * tc.b * p / (tc.r + tc.b*tc.b*p)
		k, err := dlqr(diag(tc.a), diag(tc.b), diag(tc.q), diag(tc.r))
		if err != nil {
			t.Fatal(err)
		}
		if got := k.At(0, 0); math.Abs(got-want) > 1e-9 {
			t.Errorf("dlqr(%+v) = %v, want %v", tc, got, want)
		}
	}
}

// TestLinearizeLinearMap checks the finite-difference Jacobians on a linear map,
// where they are exact.
func TestLinearizeLinearMap(t *testing.T) {
	f := func(s []float64, u float64) []float64 {
		return []float64{2*s[0] - s[1] + 0.5*u, 3 * s[1], -u}
	}
	a, b := linearize(f, []float64{0.3, -1, 2}, 0.7)
	wantA := mat.NewDense(3, 3, []float64{2, -1, 0, 0, 3, 0, 0, 0, 0})
	wantB := mat.NewDense(3, 1, []float64{0.5, 0, -1})
	if !mat.EqualApprox(a, wantA, 1e-8) || !mat.EqualApprox(b, wantB, 1e-8) {
		t.Errorf("linearize: A = %v, B = %v; want %v, %v", mat.Formatted(a), mat.Formatted(b), mat.Formatted(wantA), mat.Formatted(wantB))
	}
}

// TestCartPoleLQRStabilises checks that A − BK of every cart-pole variant has all
// eigenvalues inside the unit circle (gonum's eigen-decomposition as the oracle).
func TestCartPoleLQRStabilises(t *testing.T) {
	eachTask(t, []string{"cartpole/pretrain", "cartpole/heldout"}, func(task envs.Task, env envs.Env, pol Policy) {
		cp, _ := envs.As[*classic.CartPole](env)
		p := cp.Params()
		a, b := linearize(func(s []float64, u float64) []float64 { n := p.Next([4]float64(s), u); return n[:] }, make([]float64, 4), 0)
		k := pol.(*cartPole).k
		var closed mat.Dense
		closed.Mul(b, mat.NewDense(1, 4, k[:]))
		closed.Sub(a, &closed)
		var eig mat.Eigen
		if !eig.Factorize(&closed, mat.EigenNone) {
			t.Fatalf("%s: eigen-decomposition failed", task.ID)
		}
		for _, v := range eig.Values(nil) {
			if mag := math.Hypot(real(v), imag(v)); mag >= 1 {
				t.Errorf("%s: closed-loop eigenvalue %v has |λ| = %v ≥ 1", task.ID, v, mag)
			}
		}
	})
}

func TestClassicExpertsRejectOtherEnvs(t *testing.T) {
	pend, err := envs.Make(classic.PendulumID, nil)
	if err != nil {
		t.Fatal(err)
	}
	cart, _ := envs.Make(classic.CartPoleID, nil)
	for _, id := range []string{classic.CartPoleID, classic.MountainCarID, classic.MountainCarContinuousID, classic.AcrobotID} {
		if _, err := New(id, pend, 0, nil); err == nil || !strings.Contains(err.Error(), "not a") {
			t.Errorf("New(%s) on a Pendulum: err = %v, want a type error", id, err)
		}
	}
	if _, err := New(classic.PendulumID, cart, 0, nil); err == nil {
		t.Errorf("New(Pendulum-v1) on a CartPole: no error")
	}
}

// TestClassicExpertNoiseDegrades checks that the noise level reaches the actions:
// fully random actions do far worse than the expert.
func TestClassicExpertNoiseDegrades(t *testing.T) {
	env, _ := envs.Make(classic.CartPoleID, nil)
	pol, err := New(classic.CartPoleID, env, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for seed := range 10 {
		obs, _, _ := env.Reset(int64(seed))
		act := []float64{0}
		for {
			if err := pol.Act(obs, act); err != nil {
				t.Fatal(err)
			}
			tr, err := env.Step(act)
			if err != nil {
				t.Fatal(err)
			}
			total += tr.Reward
			obs = tr.Obs
			if tr.Done() {
				break
			}
		}
	}
	if mean := total / 10; mean > 100 {
		t.Errorf("CartPole at noise 1: mean return %.1f, want a random policy's (< 100)", mean)
	}
}

// TestCartPoleExpertSuccess measures the LQR expert's success rate (return ≥ 475,
// CartPole-v1's threshold) over 200 reset seeds on every CartPole task; it must be
// ≥ 99 %, held-out variants with reversed or weak pushes included.
func TestCartPoleExpertSuccess(t *testing.T) {
	const seeds = 200
	eachTask(t, []string{"cartpole/pretrain", "cartpole/heldout"}, func(task envs.Task, env envs.Env, pol Policy) {
		successes := 0
		for seed := range int64(seeds) {
			if rolloutWith(t, env, pol, 1000+seed) >= 475 {
				successes++
			}
		}
		rate := float64(successes) / seeds
		t.Logf("%s %v: success %.3f over %d seeds", task.ID, task.Options, rate, seeds)
		if rate < 0.99 {
			t.Errorf("%s %v: expert success %.3f over %d seeds, want ≥ 0.99", task.ID, task.Options, rate, seeds)
		}
	})
}
