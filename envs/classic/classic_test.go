package classic

import (
	"math"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/envtest"
)

func TestConformance(t *testing.T) {
	for _, id := range referenceEnvs {
		t.Run(id, func(t *testing.T) {
			envtest.Check(t, func() (envs.Env, error) { return envs.Make(id, nil) })
		})
	}
}

// TestTaskSetsConform runs the conformance checks on one variant of every task set,
// and checks that every task builds.
func TestTaskSetsConform(t *testing.T) {
	for _, set := range envs.TaskSets() {
		if _, ok := envs.Lookup(set.Tasks[0].EnvID); !ok || !strings.Contains(set.Tasks[0].ID, set.Family) {
			continue
		}
		for _, task := range set.Tasks {
			if _, err := task.Make(); err != nil {
				t.Errorf("%s: %v", task.ID, err)
			}
		}
		task := set.Tasks[len(set.Tasks)-1]
		t.Run(task.ID, func(t *testing.T) { envtest.Check(t, task.Make) })
	}
}

func TestTaskSetSizes(t *testing.T) {
	for _, family := range []string{"cartpole", "mountaincar", "mountaincarcontinuous", "acrobot", "pendulum"} {
		for name, least := range map[string]int{"pretrain": 16, "heldout": 4} {
			set, err := envs.LookupTaskSet(family + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Tasks) < least {
				t.Errorf("%s: %d tasks, want ≥ %d", set.Key(), len(set.Tasks), least)
			}
		}
	}
}

// TestHeldoutOutsidePretrain checks that every held-out variant has at least one
// option outside the range the pretraining set covers (extrapolation).
func TestHeldoutOutsidePretrain(t *testing.T) {
	for _, family := range []string{"cartpole", "mountaincar", "mountaincarcontinuous", "acrobot", "pendulum"} {
		pre, _ := envs.LookupTaskSet(family + "/pretrain")
		held, _ := envs.LookupTaskSet(family + "/heldout")
		lo, hi := map[string]float64{}, map[string]float64{}
		for _, task := range pre.Tasks {
			for k, v := range task.Options {
				f := v.(float64)
				if _, ok := lo[k]; !ok {
					lo[k], hi[k] = f, f
				}
				lo[k], hi[k] = math.Min(lo[k], f), math.Max(hi[k], f)
			}
		}
		for _, task := range held.Tasks {
			outside := false
			for k, v := range task.Options {
				f := v.(float64)
				l, ok := lo[k]
				if !ok || f < l || f > hi[k] {
					outside = true
				}
			}
			if !outside {
				t.Errorf("%s %v lies inside the pretraining ranges", task.ID, task.Options)
			}
		}
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		id   string
		opts envs.Options
		want string
	}{
		{CartPoleID, envs.Options{"lenght": 0.6}, `unknown option(s) lenght`},
		{CartPoleID, envs.Options{"length": -1.0}, `"length" = -1`},
		{CartPoleID, envs.Options{"masspole": "heavy"}, `"masspole" = heavy: want a number`},
		{CartPoleID, envs.Options{"force_mag": 0.0}, `"force_mag" = 0: want a finite number ≠ 0`},
		{CartPoleID, envs.Options{"force_mag": math.Inf(-1)}, `"force_mag" = -Inf`},
		{MountainCarID, envs.Options{"force": math.NaN()}, `"force"`},
		{MountainCarContinuousID, envs.Options{"force": 0.001}, `unknown option(s) force`},
		{AcrobotID, envs.Options{"link_mass_2": 0.0}, `"link_mass_2" = 0`},
		{PendulumID, envs.Options{"max_torque": math.Inf(1)}, `"max_torque"`},
		{PendulumID, envs.Options{"max_episode_steps": 0}, `"max_episode_steps" = 0`},
	}
	for _, tc := range tests {
		_, err := envs.Make(tc.id, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Make(%s, %v) error = %v, want one containing %q", tc.id, tc.opts, err, tc.want)
		}
	}
}

// TestOptionsChangePhysics checks that options reach the dynamics: the same state
// and action give a different next state under a different variant.
func TestOptionsChangePhysics(t *testing.T) {
	tests := []struct {
		id   string
		opts envs.Options
		act  []float64
	}{
		{CartPoleID, envs.Options{"length": 1.0}, []float64{1}},
		{CartPoleID, envs.Options{"gravity": 12.0}, []float64{1}},
		{CartPoleID, envs.Options{"force_mag": 5.0}, []float64{1}},
		{CartPoleID, envs.Options{"masscart": 2.0}, []float64{1}},
		{MountainCarID, envs.Options{"force": 0.002}, []float64{2}},
		{MountainCarID, envs.Options{"gravity": 0.003}, []float64{2}},
		{MountainCarContinuousID, envs.Options{"power": 0.002}, []float64{0.5}},
		{AcrobotID, envs.Options{"link_mass_1": 2.0}, []float64{2}},
		{AcrobotID, envs.Options{"link_length_1": 1.5}, []float64{2}},
		{PendulumID, envs.Options{"m": 2.0}, []float64{1}},
		{PendulumID, envs.Options{"g": 5.0}, []float64{1}},
	}
	for _, tc := range tests {
		base, _ := envs.Make(tc.id, nil)
		variant, err := envs.Make(tc.id, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		var next [2][]float64
		for i, env := range []envs.Env{base, variant} {
			if _, _, err := env.Reset(1); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Step(tc.act); err != nil {
				t.Fatal(err)
			}
			st, _ := envs.As[envs.Stateful](env)
			next[i] = st.State()
		}
		if closeTo(next[0], next[1], 0) {
			t.Errorf("%s %v: next state %v equals the default's", tc.id, tc.opts, next[1])
		}
	}
}

// TestCartPoleReversedForce: with force_mag −10 each action pushes the other way, so
// action 1 steps exactly as action 0 of CartPole-v1 (checked against Gymnasium) and
// the reverse, from the same reset.
func TestCartPoleReversedForce(t *testing.T) {
	for _, act := range []float64{0, 1} {
		base, _ := envs.Make(CartPoleID, nil)
		reversed, err := envs.Make(CartPoleID, envs.Options{"force_mag": -10.0})
		if err != nil {
			t.Fatal(err)
		}
		base.Reset(3)
		reversed.Reset(3)
		for step := range 5 {
			tb, err := base.Step([]float64{1 - act})
			if err != nil {
				t.Fatal(err)
			}
			tr, err := reversed.Step([]float64{act})
			if err != nil {
				t.Fatal(err)
			}
			if !closeTo(tb.Obs, tr.Obs, 0) {
				t.Fatalf("step %d: action %v with force_mag −10 gives %v, action %v of the default %v", step, act, tr.Obs, 1-act, tb.Obs)
			}
		}
	}
}

func TestPendulumClipsTorque(t *testing.T) {
	a, _ := envs.Make(PendulumID, nil)
	b, _ := envs.Make(PendulumID, nil)
	a.Reset(0)
	b.Reset(0)
	ta, err := a.Step([]float64{50})
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := b.Step([]float64{2})
	if !closeTo(ta.Obs, tb.Obs, 0) || ta.Reward != tb.Reward {
		t.Errorf("torque 50: %v %v, want clipped to 2: %v %v", ta.Obs, ta.Reward, tb.Obs, tb.Reward)
	}
}

func TestSetStateErrors(t *testing.T) {
	tests := []struct {
		id    string
		state []float64
		want  string
	}{
		{MountainCarID, []float64{-2, 0}, "position = -2"},
		{MountainCarContinuousID, []float64{0, 0.5}, "velocity = 0.5"},
		{AcrobotID, []float64{0, 0, 100, 0}, "dtheta1 = 100"},
		{PendulumID, []float64{0, -9}, "theta_dot = -9"},
		{CartPoleID, []float64{0, math.Inf(1), 0, 0}, "x_dot = +Inf"},
	}
	for _, tc := range tests {
		env := newBare(t, tc.id)
		err := env.(envs.Stateful).SetState(tc.state)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s SetState(%v) error = %v, want one containing %q", tc.id, tc.state, err, tc.want)
		}
	}
}
