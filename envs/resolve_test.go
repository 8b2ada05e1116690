package envs_test

import (
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
)

func TestResolveTasks(t *testing.T) {
	set, err := envs.LookupTaskSet("cartpole/heldout")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec string
		want []string
	}{
		{"cartpole/heldout", taskIDs(set.Tasks)},
		{set.Tasks[1].ID, []string{set.Tasks[1].ID}},
		{" " + set.Tasks[2].ID + " , " + set.Tasks[0].ID + "," + set.Tasks[2].ID, []string{set.Tasks[2].ID, set.Tasks[0].ID}},
	}
	for _, tc := range tests {
		got, err := envs.ResolveTasks(tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		if strings.Join(taskIDs(got), ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q: got %v, want %v", tc.spec, taskIDs(got), tc.want)
		}
	}
	for _, bad := range []string{"", "cartpole/nope", set.Tasks[0].ID + ",nope"} {
		if _, err := envs.ResolveTasks(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func taskIDs(ts []envs.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
