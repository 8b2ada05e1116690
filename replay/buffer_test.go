package replay

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// returnsOf lists the episode ids (first observation value) in buffer order.
func idsOf(eps []*Episode) string {
	var ids []float32
	for _, ep := range eps {
		ids = append(ids, ep.Observations[0])
	}
	return fmt.Sprint(ids)
}

func TestBufferKeepsBestThenFIFO(t *testing.T) {
	// Episode i has return r[i]; ids equal returns so the order is easy to read.
	initial := []*Episode{stepEpisode(5, 5), stepEpisode(1, 1), stepEpisode(4, 2, 2), stepEpisode(2, 2), stepEpisode(3, 1, 1, 1)}
	b, err := NewBuffer(3, initial)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		add  *Episode
		want string
	}{
		{nil, "[3 4 5]"},                  // the best three, worst first
		{stepEpisode(10, 0), "[4 5 10]"},  // replaces 3, the oldest
		{stepEpisode(11, 9), "[5 10 11]"}, // replaces 4
		{stepEpisode(12, 1), "[10 11 12]"},
		{stepEpisode(13, 1), "[11 12 13]"},
	}
	for i, s := range steps {
		if s.add != nil {
			if err := b.Add(s.add); err != nil {
				t.Fatal(err)
			}
		}
		if got := idsOf(b.Episodes()); got != s.want || b.Len() != 3 {
			t.Errorf("step %d: buffer holds %s (len %d), want %s", i, got, b.Len(), s.want)
		}
	}
	// Windows come only from held episodes, with returns-to-go from their rewards.
	rng := rand.New(rand.NewPCG(9, 9))
	batch := NewBatch(32, 2, 2, 1)
	wantRTG := map[float32]float32{11: 9, 12: 1, 13: 1}
	for it := 0; it < 20; it++ {
		if err := b.Sample(rng, batch); err != nil {
			t.Fatal(err)
		}
		for row := 0; row < batch.B; row++ {
			p := row*2 + 1 // every episode has one step: one pad, then the step
			id := batch.States[p*2]
			if r, ok := wantRTG[id]; !ok || batch.Returns[p] != r || batch.Mask[p-1] {
				t.Fatalf("window from episode %v with rtg %v (mask %v)", id, batch.Returns[p], batch.Mask[row*2:row*2+2])
			}
		}
	}
}

func TestBufferSmallInitial(t *testing.T) {
	b, err := NewBuffer(4, []*Episode{stepEpisode(2, 2), stepEpisode(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []float32{3, 4, 5} {
		if err := b.Add(stepEpisode(id, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := idsOf(b.Episodes()); got != "[2 3 4 5]" || b.Transitions() != 4 || b.Capacity() != 4 {
		t.Errorf("buffer holds %s (%d transitions), want [2 3 4 5]", got, b.Transitions())
	}

	empty, err := NewBuffer(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Sample(rand.New(rand.NewPCG(1, 1)), NewBatch(1, 1, 2, 1)); err == nil || !strings.Contains(err.Error(), "nothing to sample") {
		t.Errorf("sampling an empty buffer: %v", err)
	}
	if err := empty.Add(stepEpisode(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := empty.Add(randomEpisode(rand.New(rand.NewPCG(1, 1)), "x", 2, 3, 1, 0)); err == nil || !strings.Contains(err.Error(), "obs dim 3") {
		t.Errorf("adding an episode with other dims: %v", err)
	}
	if _, err := NewBuffer(0, nil); err == nil {
		t.Error("capacity 0 accepted")
	}
}
