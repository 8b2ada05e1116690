package replay

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestWindowsByHand checks windows of a hand-worked dataset: two episodes whose
// observation at step t is [id, t], K = 2. Windows are raw: observations as recorded,
// undiscounted returns-to-go, unclipped timesteps.
func TestWindowsByHand(t *testing.T) {
	a := stepEpisode(1, 1, 2, 3) // returns-to-go 6, 5, 3
	b := stepEpisode(2, 5)       // return-to-go 5
	s, err := NewSampler([]*Episode{a, b})
	if err != nil {
		t.Fatal(err)
	}
	batch := NewBatch(3, 2, 2, 1)
	for _, arr := range [][]float32{batch.States, batch.Actions, batch.Returns} {
		for i := range arr {
			arr[i] = 99 // padding must overwrite stale values
		}
	}
	for i := range batch.Timesteps {
		batch.Timesteps[i] = 99
		batch.Mask[i] = true
	}
	s.w.fill(batch, 0, &s.w.trajs[0], 0) // a, steps 0–1
	s.w.fill(batch, 1, &s.w.trajs[0], 2) // a, step 2 only: one pad
	s.w.fill(batch, 2, &s.w.trajs[1], 0) // b, step 0 only: one pad
	want := &Batch{
		B: 3, K: 2, ObsDim: 2, ActDim: 1,
		Returns:   []float32{6, 5 /**/, 0, 3 /**/, 0, 5},
		States:    []float32{1, 0, 1, 1 /**/, 0, 0, 1, 2 /**/, 0, 0, 2, 0},
		Actions:   []float32{10, 11 /**/, 0, 12 /**/, 0, 20},
		Timesteps: []int{0, 1 /**/, 0, 2 /**/, 0, 0},
		Mask:      []bool{true, true /**/, false, true /**/, false, true},
	}
	if !reflect.DeepEqual(batch, want) {
		t.Errorf("got  %+v\nwant %+v", batch, want)
	}
}

// TestSampleProportions draws many windows from episodes of lengths 1, 3 and 6 and
// checks that each (episode, start step) pair has probability 1/10: trajectories in
// proportion to their length, starts uniform within them.
func TestSampleProportions(t *testing.T) {
	eps := []*Episode{stepEpisode(0, 1), stepEpisode(1, 1, 1, 1), stepEpisode(2, 1, 1, 1, 1, 1, 1)}
	const k = 4
	s, err := NewSampler(eps)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 0))
	b := NewBatch(64, k, 2, 1)
	counts := map[[2]int]int{}
	draws := 0
	for it := 0; it < 1000; it++ {
		if err := s.Sample(rng, b); err != nil {
			t.Fatal(err)
		}
		for row := 0; row < b.B; row++ {
			mask := b.Mask[row*k : (row+1)*k]
			p := 0
			for p < k && !mask[p] {
				p++
			}
			id, start := int(b.States[(row*k+p)*2]), int(b.States[(row*k+p)*2+1])
			if n := min(k, eps[id].Len()-start); p != k-n {
				t.Fatalf("episode %d start %d: %d pads, want %d", id, start, p, k-n)
			}
			for j := p; j < k; j++ {
				if !mask[j] || int(b.States[(row*k+j)*2+1]) != start+j-p || b.Timesteps[row*k+j] != start+j-p {
					t.Fatalf("episode %d start %d: position %d is not step %d", id, start, j, start+j-p)
				}
			}
			counts[[2]int{id, start}]++
			draws++
		}
	}
	// 64 000 draws: the standard error of a frequency of 0.1 is 0.0012; 0.01 is > 8σ.
	const tol = 0.01
	if len(counts) != 10 {
		t.Errorf("drew %d distinct (episode, start) pairs, want 10", len(counts))
	}
	for key, c := range counts {
		if f := float64(c) / float64(draws); math.Abs(f-0.1) > tol {
			t.Errorf("episode %d start %d: frequency %.4f, want 0.1 ± %v", key[0], key[1], f, tol)
		}
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var eps []*Episode
	for i := 0; i < 20; i++ {
		eps = append(eps, randomEpisode(rng, "a", 5+i*7, 4, 2, 0))
	}
	s, err := NewSampler(eps)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := NewBuffer(10, eps)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatch(16, 20, 4, 2)
	buf.Sample(rng, b) // builds the length index once
	for name, sample := range map[string]func(){
		"sampler": func() { s.Sample(rng, b) },
		"buffer":  func() { buf.Sample(rng, b) },
	} {
		if allocs := testing.AllocsPerRun(50, sample); allocs != 0 {
			t.Errorf("%s: %v allocations per batch, want 0", name, allocs)
		}
	}
}

func TestSamplerErrors(t *testing.T) {
	good := []*Episode{stepEpisode(1, 1, 2)}
	tests := []struct {
		name string
		eps  []*Episode
		want string
	}{
		{"no steps", []*Episode{stepEpisode(1)}, "no steps"},
		{"obs dims", []*Episode{good[0], randomEpisode(rand.New(rand.NewPCG(1, 1)), "x", 2, 3, 1, 0)}, "obs dim 3"},
		{"action dims", []*Episode{good[0], randomEpisode(rand.New(rand.NewPCG(1, 1)), "x", 2, 2, 3, 0)}, "action dim 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSampler(tt.eps); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	s, err := NewSampler(good)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	if err := s.Sample(rng, NewBatch(2, 3, 5, 1)); err == nil || !strings.Contains(err.Error(), "obs dim 5") {
		t.Errorf("batch with wrong obs dim: %v", err)
	}
	short := NewBatch(2, 3, 2, 1)
	short.Mask = short.Mask[:1]
	if err := s.Sample(rng, short); err == nil || !strings.Contains(err.Error(), "NewBatch") {
		t.Errorf("batch with a short array: %v", err)
	}
}

func TestComputeNormStats(t *testing.T) {
	// Inputs (final observations excluded): feature 0 = 1, 1, 1, 3; feature 1 = 0, 1, 2, 0.
	eps := []*Episode{stepEpisode(1, 0, 0, 0), stepEpisode(3, 0)}
	got, err := ComputeNormStats(eps, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := NormStats{Mean: []float64{1.5, 0.75}, Std: []float64{math.Sqrt(0.75), math.Sqrt(0.6875)}}
	for j := range want.Mean {
		if math.Abs(got.Mean[j]-want.Mean[j]) > 1e-12 || math.Abs(got.Std[j]-want.Std[j]) > 1e-12 {
			t.Errorf("feature %d: mean %v std %v, want %v and %v", j, got.Mean[j], got.Std[j], want.Mean[j], want.Std[j])
		}
	}
	constant, err := ComputeNormStats([]*Episode{stepEpisode(7, 0, 0)}, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if constant.Std[0] != 0.1 || constant.Mean[0] != 7 {
		t.Errorf("constant feature: mean %v std %v, want 7 and the floor 0.1", constant.Mean[0], constant.Std[0])
	}
	if _, err := ComputeNormStats(nil, 0); err == nil {
		t.Error("no episodes: no error")
	}
	if _, err := ComputeNormStats([]*Episode{stepEpisode(1)}, 0); err == nil {
		t.Error("episodes without steps: no error")
	}
}
