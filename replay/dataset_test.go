package replay

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
)

func TestTaskStats(t *testing.T) {
	a1, a2, other := stepEpisode(1, 1, 2), stepEpisode(2, 5), stepEpisode(3, 2)
	a1.TaskID, a2.TaskID = "fam/a", "fam/a"
	a2.Success = true
	ds, err := NewDataset([]*Episode{a1, other, a2})
	if err != nil {
		t.Fatal(err)
	}
	want := []TaskStats{
		{Task: "Test-v0", EnvID: "Test-v0", Episodes: 1, Transitions: 1, ReturnMean: 2, ReturnStd: 0, ReturnMin: 2, ReturnMax: 2},
		// returns 3 and 5: mean 4, population std 1
		{Task: "fam/a", EnvID: "Test-v0", Episodes: 2, Transitions: 3, ReturnMean: 4, ReturnStd: 1, ReturnMin: 3, ReturnMax: 5, SuccessRate: 0.5},
	}
	if got := ds.TaskStats(); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if ds.Transitions() != 4 || ds.ObsDim != 2 || ds.ActDim != 1 {
		t.Errorf("transitions %d dims %d/%d", ds.Transitions(), ds.ObsDim, ds.ActDim)
	}
}

func TestNewDatasetErrors(t *testing.T) {
	wide := stepEpisode(1, 1)
	wide.ActDim, wide.Actions = 2, []float32{0, 0}
	broken := stepEpisode(1, 1)
	broken.Observations = broken.Observations[:3]
	tests := []struct {
		name string
		eps  []*Episode
		want string
	}{
		{"nil episode", []*Episode{nil}, "episode 0 is nil"},
		{"invalid", []*Episode{stepEpisode(1, 1), broken}, "episode 1: episode Test-v0: 3 observation values"},
		{"dims", []*Episode{stepEpisode(1, 1), wide}, "action dim 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDataset(tt.eps); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewDataset([]*Episode{stepEpisode(1, 1), wide}); !errors.Is(err, ErrDims) {
		t.Errorf("dims error does not wrap ErrDims: %v", err)
	}
}

func TestValidateFinite(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name    string
		corrupt func(*Episode)
		want    string
	}{
		{"NaN observation", func(e *Episode) { e.Observations[5] = nan }, "observation at step 2 (element 1) is NaN"},
		{"Inf action", func(e *Episode) { e.Actions[1] = float32(math.Inf(1)) }, "action at step 1 (element 0) is +Inf"},
		{"NaN reward", func(e *Episode) { e.Rewards[2] = nan }, "reward at step 2 (element 0) is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := stepEpisode(1, 1, 2, 3)
			if err := ep.Validate(); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(ep)
			if err := ep.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckSpacesAndEnvs(t *testing.T) {
	ds, err := NewDataset([]*Episode{stepEpisode(0, 1), stepEpisode(1, 1, 1)}) // actions 0, 10, 11
	if err != nil {
		t.Fatal(err)
	}
	ds.Path = "d.evds"
	obs2 := envs.NewBox([]float64{0, 0}, []float64{1, 1})
	tests := []struct {
		name     string
		obs, act envs.Space
		want     string
	}{
		{"fits", obs2, envs.Discrete{N: 12}, ""},
		{"box action", obs2, envs.NewBox([]float64{-1}, []float64{1}), ""},
		{"action out of range", obs2, envs.Discrete{N: 11}, "episode 1 (Test-v0) step 1: action 11 is not in Discrete(11)"},
		{"observation size", envs.NewBox([]float64{0, 0, 0}, []float64{1, 1, 1}), envs.Discrete{N: 12}, "observations have 2 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ds.CheckSpaces(tt.obs, tt.act)
			if (tt.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "d.evds"))) {
				t.Fatalf("error %v, want %q naming d.evds", err, tt.want)
			}
		})
	}
	if err := ds.CheckEnvs("Test-v0"); err != nil {
		t.Error(err)
	}
	if err := ds.CheckEnvs("CartPole-v1", "Acrobot-v1"); err == nil || !strings.Contains(err.Error(), "d.evds: episode 0 was recorded in Test-v0") {
		t.Errorf("wrong env: %v", err)
	}
	empty, _ := NewDataset(nil)
	if err := empty.CheckSpaces(obs2, envs.Discrete{N: 2}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty dataset: %v", err)
	}
}
