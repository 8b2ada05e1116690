package replay

import (
	"errors"
	"reflect"
	"strings"
	"testing"
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
