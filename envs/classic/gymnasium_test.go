package classic

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/evarl/evarl/envs"
)

// Reference data recorded from the real Gymnasium code (testdata/gymnasium/README.md).
// Tolerances for one step, from that README: state 1e-9, obs 2e-7, reward 1e-6.
const (
	tolState  = 1e-9
	tolObs    = 2e-7
	tolReward = 1e-6
)

// record is one line of a reference file; fields not used by a type stay zero.
type record struct {
	Type        string          `json:"type"`
	Policy      string          `json:"policy"`
	Seed        int64           `json:"seed"`
	T           int             `json:"t"`
	Action      json.RawMessage `json:"action"`
	Obs         []float64       `json:"obs"`
	Reward      float64         `json:"reward"`
	Terminated  bool            `json:"terminated"`
	Truncated   bool            `json:"truncated"`
	State       []float64       `json:"state"`
	I           int             `json:"i"`
	StateBefore []float64       `json:"state_before"`
	NextObs     []float64       `json:"next_obs"`
	NextState   []float64       `json:"next_state"`
}

// action decodes a recorded action: an integer for discrete envs, a list for Box.
func (r record) action(t *testing.T) []float64 {
	t.Helper()
	var list []float64
	if err := json.Unmarshal(r.Action, &list); err == nil {
		return list
	}
	var x float64
	if err := json.Unmarshal(r.Action, &x); err != nil {
		t.Fatalf("action %s: %v", r.Action, err)
	}
	return []float64{x}
}

func readRecords(t *testing.T, envID string) []record {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "gymnasium", envID+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", envID, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func closeTo(got, want []float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			return false
		}
	}
	return true
}

var referenceEnvs = []string{CartPoleID, MountainCarID, MountainCarContinuousID, AcrobotID, PendulumID}

func newBare(t *testing.T, id string) envs.Env {
	t.Helper()
	spec, ok := envs.Lookup(id)
	if !ok {
		t.Fatalf("%s not registered", id)
	}
	env, err := spec.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestGymnasiumReset checks Reset(seed) against Gymnasium's reset(seed=…): first
// observation and full internal state, through the NumPy RNG port.
func TestGymnasiumReset(t *testing.T) {
	for _, id := range referenceEnvs {
		t.Run(id, func(t *testing.T) {
			env := newBare(t, id)
			n := 0
			for _, r := range readRecords(t, id) {
				if r.Type != "reset" {
					continue
				}
				n++
				obs, _, err := env.Reset(r.Seed)
				if err != nil {
					t.Fatal(err)
				}
				if !closeTo(obs, r.Obs, 0) {
					t.Errorf("seed %d: obs = %v, want %v", r.Seed, obs, r.Obs)
				}
				if got := env.(envs.Stateful).State(); !closeTo(got, r.State, 0) {
					t.Errorf("seed %d: state = %v, want %v", r.Seed, got, r.State)
				}
			}
			if n == 0 {
				t.Fatal("no reset records")
			}
		})
	}
}

// TestGymnasiumSteps replays every recorded episode step by step: step t starts from
// the recorded state of the record before it.
func TestGymnasiumSteps(t *testing.T) {
	for _, id := range referenceEnvs {
		t.Run(id, func(t *testing.T) {
			env := newBare(t, id)
			st := env.(envs.Stateful)
			var prev []float64
			n := 0
			for _, r := range readRecords(t, id) {
				switch r.Type {
				case "reset":
					prev = r.State
					continue
				case "step":
				default:
					continue
				}
				n++
				if err := st.SetState(prev); err != nil {
					t.Fatalf("%s seed %d t %d: SetState(%v): %v", r.Policy, r.Seed, r.T, prev, err)
				}
				tr, err := env.Step(r.action(t))
				if err != nil {
					t.Fatalf("%s seed %d t %d: %v", r.Policy, r.Seed, r.T, err)
				}
				checkStep(t, id, r.Policy, r.Seed, r.T, st.State(), tr, r.State, r.Obs, r.Reward, r.Terminated)
				prev = r.State
			}
			if n == 0 {
				t.Fatal("no step records")
			}
		})
	}
}

// TestGymnasiumTransitions sets each recorded state directly and applies one action,
// including the over-sampled edge cases (thresholds, walls, clamps, out-of-bounds
// continuous actions).
func TestGymnasiumTransitions(t *testing.T) {
	for _, id := range referenceEnvs {
		t.Run(id, func(t *testing.T) {
			env := newBare(t, id)
			st := env.(envs.Stateful)
			n := 0
			for _, r := range readRecords(t, id) {
				if r.Type != "transition" {
					continue
				}
				n++
				if err := st.SetState(r.StateBefore); err != nil {
					t.Fatalf("transition %d: SetState(%v): %v", r.I, r.StateBefore, err)
				}
				tr, err := env.Step(r.action(t))
				if err != nil {
					t.Fatalf("transition %d: %v", r.I, err)
				}
				checkStep(t, id, "transition", int64(r.I), 0, st.State(), tr, r.NextState, r.NextObs, r.Reward, r.Terminated)
			}
			if n == 0 {
				t.Fatal("no transition records")
			}
		})
	}
}

func checkStep(t *testing.T, id, what string, seed int64, step int, state []float64, tr envs.Transition, wantState, wantObs []float64, wantReward float64, wantTerm bool) {
	t.Helper()
	if !closeTo(state, wantState, tolState) {
		t.Errorf("%s %s %d t %d: state = %v, want %v", id, what, seed, step, state, wantState)
	}
	if !closeTo(tr.Obs, wantObs, tolObs) {
		t.Errorf("%s %s %d t %d: obs = %v, want %v", id, what, seed, step, tr.Obs, wantObs)
	}
	if math.Abs(tr.Reward-wantReward) > tolReward {
		t.Errorf("%s %s %d t %d: reward = %v, want %v", id, what, seed, step, tr.Reward, wantReward)
	}
	if tr.Terminated != wantTerm {
		t.Errorf("%s %s %d t %d: terminated = %v, want %v", id, what, seed, step, tr.Terminated, wantTerm)
	}
}
