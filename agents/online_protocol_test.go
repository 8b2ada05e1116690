package agents

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// constantEpisodes are n offline Pendulum episodes of length 2..n+1 whose rewards are
// all −1 per step, so episode i (from 0) has length i+2 and return −(i+2); each starts
// from a state no rollout reaches.
func constantEpisodes(task envs.Task, n int) []*replay.Episode {
	var eps []*replay.Episode
	for i := 0; i < n; i++ {
		steps := i + 2
		ep := &replay.Episode{EnvID: task.EnvID, TaskID: task.ID, ObsDim: 3, ActDim: 1, Source: "expert noise=0",
			Observations: make([]float32, 3*(steps+1)), Actions: make([]float32, steps), Rewards: make([]float32, steps)}
		ep.Observations[0] = float32(100 + i)
		for s := range ep.Rewards {
			ep.Rewards[s] = -1
			ep.Actions[s] = 0.5
		}
		eps = append(eps, ep)
	}
	return eps
}

// protocolConfig: an offline phase of 7 updates, then 3 iterations of 2 episodes and
// 4 updates, through a buffer of 5 trajectories.
func protocolConfig() OnlineConfig {
	c := smallOnline(3, 4)
	c.OfflineUpdates, c.EpisodesPerIteration, c.NumEnvs, c.BufferSize, c.BatchSize = 7, 2, 2, 5, 8
	c.Optimizer.Kind = nn.OptimizerLAMB
	c.ExploreScale, c.ExploreReturn = 0, -30
	return c
}

// stepLog is what every update of a run reported, in order.
type stepLog struct {
	extras  []map[string]float64
	weights []float32
	lambda  float64
	buffer  []*replay.Episode
}

// TestOnlineProtocol: the offline phase trains on the seeded buffer without
// exploring; the first update after it collects the first iteration's episodes; the
// buffer then drops its oldest (lowest-return) offline trajectories first; and every
// update's metrics describe the buffer and the exploration as recomputed here from
// the buffer's episodes.
func TestOnlineProtocol(t *testing.T) {
	task := pendulumTask()
	cfg := protocolConfig()
	offline := constantEpisodes(task, 4) // returns −2 … −5, lengths 2 … 5
	rng, _ := NewRand(11)
	m := stochasticModel(t, task, 16, 4, rng)
	o, err := NewOnline(m, nil, task, offline, cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TotalUpdates() != 7+3*4 {
		t.Fatalf("TotalUpdates = %d, want 19", cfg.TotalUpdates())
	}
	for u := 1; u <= cfg.TotalUpdates(); u++ {
		wasOffline := o.Offline()
		st, err := o.Step()
		if err != nil {
			t.Fatal(err)
		}
		x := st.Extra
		eps := o.Buffer().Episodes()
		if wasOffline != (u <= 7) {
			t.Fatalf("update %d: offline phase %v, want %v", u, wasOffline, u <= 7)
		}
		// Recompute the buffer's make-up from its episodes.
		var on, all, nOn, nOff int
		var retOn, retOff float64
		for _, ep := range eps {
			all += ep.Len()
			if ep.Source == ExploreSource {
				on += ep.Len()
				nOn++
				retOn += ep.Return()
			} else {
				nOff++
				retOff += ep.Return()
			}
		}
		wantIter := -1.0
		if u > 7 {
			wantIter = float64((u - 8) / 4)
		}
		if x[MetricOnlineIteration] != wantIter {
			t.Errorf("update %d: iteration %v, want %v", u, x[MetricOnlineIteration], wantIter)
		}
		if got, want := x[MetricBufferOnlineShare], float64(on)/float64(all); math.Abs(got-want) > 1e-12 {
			t.Errorf("update %d: online share %v, want %v", u, got, want)
		}
		if got, want := x[MetricBufferOfflineReturn], retOff/float64(nOff); math.Abs(got-want) > 1e-9 {
			t.Errorf("update %d: offline return %v, want %v", u, got, want)
		}
		if got := x[MetricTemperature]; got != o.Temperature() {
			t.Errorf("update %d: temperature %v, trainer %v", u, got, o.Temperature())
		}
		if wasOffline {
			if nOn != 0 || len(eps) != 4 || o.LastExploration().Iteration != -1 {
				t.Fatalf("update %d (offline phase): %d online episodes of %d, last exploration %d; want none explored",
					u, nOn, len(eps), o.LastExploration().Iteration)
			}
			if _, ok := x[MetricExploreReturn]; ok {
				t.Errorf("update %d: an exploration return before any exploration", u)
			}
			if _, ok := x[MetricBufferOnlineReturn]; ok {
				t.Errorf("update %d: an online return with no online trajectory", u)
			}
			if x[MetricBufferOfflineReturn] != -3.5 {
				t.Errorf("update %d: offline return %v, want −3.5", u, x[MetricBufferOfflineReturn])
			}
			continue
		}
		ex := o.LastExploration()
		if ex.Iteration != int(wantIter) || len(ex.Returns) != 2 {
			t.Fatalf("update %d: last exploration of iteration %d with %d episodes, want %v with 2", u, ex.Iteration, len(ex.Returns), wantIter)
		}
		if got, want := x[MetricExploreReturn], (ex.Returns[0]+ex.Returns[1])/2; math.Abs(got-want) > 1e-9 {
			t.Errorf("update %d: exploration return %v, want %v", u, got, want)
		}
		if got, want := x[MetricExploreLength], float64(ex.Lengths[0]+ex.Lengths[1])/2; got != want {
			t.Errorf("update %d: exploration length %v, want %v", u, got, want)
		}
		if got, want := x[MetricBufferOnlineReturn], retOn/float64(nOn); math.Abs(got-want) > 1e-9 {
			t.Errorf("update %d: online return %v, want %v", u, got, want)
		}
		// FIFO after the seed, the seed itself in increasing return: iteration 0's
		// two episodes replace the offline episode of return −5 and keep the buffer
		// at 5 (4 + 2 − 1); iteration 1's two replace the next oldest (−4, −3);
		// iteration 2's replace the last offline one (−2) and iteration 0's first.
		wantOff := map[float64]int{0: 3, 1: 1, 2: 0}[wantIter]
		if nOff != wantOff || len(eps) != 5 {
			t.Errorf("update %d: %d offline of %d trajectories, want %d of 5", u, nOff, len(eps), wantOff)
		}
	}
	if !o.Done() || o.StepCount() != 19 {
		t.Errorf("after 19 updates: done %v, count %d", o.Done(), o.StepCount())
	}
}

// Iterate runs the offline phase as one unit (iteration −1), then the iterations.
func TestOnlineIterateOfflinePhase(t *testing.T) {
	task := pendulumTask()
	rng, _ := NewRand(12)
	o, err := NewOnline(stochasticModel(t, task, 16, 4, rng), nil, task, constantEpisodes(task, 4), protocolConfig(), rng)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]int
	for !o.Done() {
		st, err := o.Iterate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]int{st.Iteration, st.Updates})
		if st.Iteration == -1 && len(st.ExploreReturns) != 0 {
			t.Errorf("offline phase explored %d episodes", len(st.ExploreReturns))
		}
	}
	if want := [][2]int{{-1, 7}, {0, 4}, {1, 4}, {2, 4}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Iterate units (iteration, updates) = %v, want %v", got, want)
	}
	// An offline phase needs offline data.
	if _, err := NewOnline(stochasticModel(t, task, 16, 4, rng), nil, task, nil, protocolConfig(), rng); err == nil || !strings.Contains(err.Error(), "offline_updates = 7") {
		t.Errorf("offline phase without data: %v, want an error naming offline_updates", err)
	}
}

// runProtocol runs the protocol of protocolConfig from seed, optionally stopping
// after stop updates to save and resume into a fresh model and trainer, and logs
// every update.
func runProtocol(t *testing.T, seed uint64, stop int) stepLog {
	t.Helper()
	task := pendulumTask()
	cfg := protocolConfig()
	rng, src := NewRand(seed)
	m := stochasticModel(t, task, 16, 4, rng)
	o, err := NewOnline(m, nil, task, constantEpisodes(task, 4), cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	var log stepLog
	for o.StepCount() < cfg.TotalUpdates() {
		if o.StepCount() == stop {
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			if err := o.SaveState(dir, src, TrainState{Loop: LoopState{Step: o.Updates(), BestStep: -1}}); err != nil {
				t.Fatal(err)
			}
			rng2, src2 := NewRand(999)
			if m, err = policy.LoadRand(dir, nn.GonumGemm{}, rng2); err != nil {
				t.Fatal(err)
			}
			if o, err = NewOnline(m, nil, task, constantEpisodes(task, 4), cfg, rng2); err != nil {
				t.Fatal(err)
			}
			if _, err := o.LoadState(dir, src2); err != nil {
				t.Fatal(err)
			}
		}
		st, err := o.Step()
		if err != nil {
			t.Fatal(err)
		}
		log.extras = append(log.extras, st.Extra)
	}
	log.weights, log.lambda, log.buffer = flatWeights(m), o.Temperature(), o.Buffer().Episodes()
	return log
}

// TestOnlineResumeAcrossPhases: runs stopped in the offline phase, exactly at its
// end (the next update explores first), right after the first rollouts and in the
// middle of an iteration, then resumed from their saved state, end bit-identical to
// the uninterrupted run — weights, λ, buffer — and report the same metrics at every
// update.
func TestOnlineResumeAcrossPhases(t *testing.T) {
	want := runProtocol(t, 21, -1)
	for _, stop := range []int{3, 7, 8, 13} {
		got := runProtocol(t, 21, stop)
		if !slices.Equal(got.weights, want.weights) || got.lambda != want.lambda {
			t.Errorf("stopped at %d: weights or λ differ from the uninterrupted run", stop)
		}
		if !reflect.DeepEqual(got.extras, want.extras) {
			for u := range want.extras {
				if !reflect.DeepEqual(got.extras[u], want.extras[u]) {
					t.Errorf("stopped at %d: update %d reports %v, uninterrupted %v", stop, u+1, got.extras[u], want.extras[u])
					break
				}
			}
		}
		if len(got.buffer) != len(want.buffer) {
			t.Fatalf("stopped at %d: %d buffered episodes, want %d", stop, len(got.buffer), len(want.buffer))
		}
		for i := range want.buffer {
			if !slices.Equal(got.buffer[i].Actions, want.buffer[i].Actions) || got.buffer[i].Source != want.buffer[i].Source {
				t.Errorf("stopped at %d: buffer episode %d differs", stop, i)
			}
		}
	}
	// A state saved in the offline phase does not load into a trainer configured
	// with a shorter one.
	task := pendulumTask()
	rng, src := NewRand(3)
	m := stochasticModel(t, task, 16, 4, rng)
	cfg := protocolConfig()
	o, err := NewOnline(m, nil, task, constantEpisodes(task, 4), cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if _, err := o.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := o.SaveState(dir, src, TrainState{Loop: LoopState{Step: 9, BestStep: -1}}); err != nil {
		t.Fatal(err)
	}
	cfg.OfflineUpdates = 3
	o2, err := NewOnline(stochasticModel(t, task, 16, 4, rng), nil, task, constantEpisodes(task, 4), cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o2.LoadState(dir, src); err == nil || !strings.Contains(err.Error(), "offline_updates = 3") {
		t.Errorf("resume with another offline phase: %v, want an error naming offline_updates", err)
	}
}
