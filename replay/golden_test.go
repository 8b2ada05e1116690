package replay

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/evarl/evarl/envs"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.evds from goldenEpisodes")

// goldenEpisodes are the contents of testdata/v1.evds: one raw record with states
// and one DEFLATE record, written when the format was defined. Reading the committed
// file guards against changes that would make existing datasets unreadable.
func goldenEpisodes() []*Episode {
	return []*Episode{
		{
			EnvID: "CartPole-v1", TaskID: "cartpole/pretrain-00", Seed: 7, Source: "expert noise=0",
			Options: envs.Options{"length": 0.75, "masspole": 0.1},
			ObsDim:  4, ActDim: 1, StateDim: 4,
			Observations: []float32{0.01, -0.02, 0.03, -0.04, 0.0104, 0.175, 0.0292, -0.327, 0.0139, -0.02, 0.0227, -0.0255},
			Actions:      []float32{1, 0},
			Rewards:      []float32{1, 1},
			Truncated:    true,
			States:       []float64{0.01, -0.02, 0.03, -0.04, 0.0104, 0.175, 0.0292, -0.327, 0.0139, -0.02, 0.0227, -0.0255},
		},
		{
			EnvID: "CartPole-v1", TaskID: "cartpole/pretrain-01", Seed: envs.NoSeed,
			ObsDim: 4, ActDim: 1,
			Observations: []float32{0, 0, 0, 0, 0, 0.2, 0, -0.3},
			Actions:      []float32{1},
			Rewards:      []float32{1},
			Terminated:   true, Success: true,
		},
	}
}

func TestGoldenV1(t *testing.T) {
	path := filepath.Join("testdata", "v1.evds")
	want := goldenEpisodes()
	if *update {
		os.Remove(path)
		w, err := Create(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(want[0]); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if w, err = Append(path, &WriteOptions{Compress: true}); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(want[1]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ep := range want { // Open records where each episode came from
		ep.File, ep.Index = path, i
	}
	if !reflect.DeepEqual(ds.Episodes, want) {
		t.Errorf("read %+v\nwant %+v", ds.Episodes, want)
	}
	// The writer still produces the committed bytes for a raw record.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := new(encoder).appendRecord(appendHeader(nil, Version), want[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, rec) {
		t.Error("encoding the first golden episode no longer gives the committed bytes")
	}
}
