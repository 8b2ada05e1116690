package expert

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
)

func init() { Register(classic.AcrobotID, newAcrobot) }

// acrobotDepth is how many steps (of 0.2 s) the expert looks ahead, trying every
// torque sequence: 3^depth leaves.
const acrobotDepth = 4

// acrobot is a short-horizon model-predictive controller on the variant's own
// dynamics (classic.AcrobotParams.Next, the same RK4 step the environment takes). It
// tries every torque sequence of acrobotDepth steps; a sequence that lifts the tip
// above the line scores by how soon it does, any other by the mechanical energy it
// leaves in the system (energy pumping: the swing-up needs energy, and the greedy
// search pumps it in as fast as the torque allows). The first torque of the best
// sequence is applied.
type acrobot struct {
	env *classic.Acrobot
	p   classic.AcrobotParams
}

func newAcrobot(env envs.Env) (Policy, error) {
	ac, ok := envs.As[*classic.Acrobot](env)
	if !ok {
		return nil, fmt.Errorf("environment is %T, not an Acrobot", envs.Unwrap(env))
	}
	return &acrobot{env: ac, p: ac.Params()}, nil
}

func (e *acrobot) Reset() error { return nil }

// energy is the acrobot's mechanical energy (kinetic from the mass matrix of
// Gymnasium's equations, potential with θ = 0 hanging down).
func (e *acrobot) energy(s [4]float64) float64 {
	p := e.p
	m1, m2, l1, lc1, lc2, i := p.Link1Mass, p.Link2Mass, p.Link1Length, p.Link1COM, p.Link2COM, p.LinkMOI
	c2 := math.Cos(s[1])
	d11 := m1*lc1*lc1 + m2*(l1*l1+lc2*lc2+2*l1*lc2*c2) + 2*i
	d12 := m2*(lc2*lc2+l1*lc2*c2) + i
	d22 := m2*lc2*lc2 + i
	kinetic := 0.5*d11*s[2]*s[2] + d12*s[2]*s[3] + 0.5*d22*s[3]*s[3]
	potential := -(m1*lc1+m2*l1)*p.Gravity*math.Cos(s[0]) - m2*lc2*p.Gravity*math.Cos(s[0]+s[1])
	return kinetic + potential
}

// search returns the best score reachable from s in depth more steps.
func (e *acrobot) search(s [4]float64, depth, taken int) float64 {
	if e.p.Reached(s) {
		return 1e9 - float64(taken)
	}
	if depth == 0 {
		return e.energy(s)
	}
	best := math.Inf(-1)
	for _, torque := range classic.AcrobotTorques {
		best = max(best, e.search(e.p.Next(s, torque), depth-1, taken+1))
	}
	return best
}

// Act applies the first torque of the best sequence.
func (e *acrobot) Act(_ []float64, action []float64) error {
	s := [4]float64(e.env.State())
	bestA, bestScore := 1, math.Inf(-1)
	for a, torque := range classic.AcrobotTorques {
		if score := e.search(e.p.Next(s, torque), acrobotDepth-1, 1); score > bestScore {
			bestA, bestScore = a, score
		}
	}
	action[0] = float64(bestA)
	return nil
}
