package agents

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/replay"
)

// explore collects the current iteration's EpisodesPerIteration exploration episodes:
// actions sampled from the policy conditioned on the exploration return-to-go, run
// by the shared episode loop (Rollout). It is not interruptible — the episodes are
// short next to the updates, and a half-finished rollout would leave the random
// stream where no checkpoint can describe it.
func (o *Online) explore() ([]*replay.Episode, error) {
	n := o.cfg.EpisodesPerIteration
	// Episode j of the iteration resets with base+j, in the exploration seed range.
	base := ExplorationSeeds + o.rng.Int64N(explorationSeedSpan-int64(n))
	q := []Quota{{Task: o.task, Target: o.cfg.ExploreTarget(), Episodes: n, Seed: base}}
	out := make([]*replay.Episode, n)
	// The buffer trains on observations; states would only cost memory.
	rc := RolloutConfig{Record: true, Source: ExploreSource}
	err := Rollout(context.Background(), o.actor, q, rc, func(ep Episode) error {
		out[ep.Index] = ep.Recording
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("online %s: exploration: %w", o.task.ID, err)
	}
	return out, nil
}

// Files SaveState adds beside TrainStateFile and OptimizerFile.
const (
	// OnlineBufferFile holds the replay buffer's episodes, oldest first, in replay's
	// episode-file format.
	OnlineBufferFile = "replay_buffer.evds"
)

// Keys of the online trainer's entries in TrainState.Extra.
const (
	extraIteration   = "online_iteration"
	extraRolledOut   = "online_rolled_out"
	extraIterUpdates = "online_iteration_updates"
	extraLogTemp     = "log_temperature"
	extraLogTempM    = "log_temperature.exp_avg"
	extraLogTempV    = "log_temperature.exp_avg_sq"
	// The latest exploration's means, for the metrics of a resumed run.
	extraExploreEpisodes = "online_explore_episodes"
	extraExploreReturn   = "online_explore_return"
	extraExploreLength   = "online_explore_length"
	extraExploreSuccess  = "online_explore_success"
)

// SaveState writes what a resumed run needs besides the weights (which the caller
// saves: the model, or the adapters) into dir: the update count and src's state (src
// must be the PCG behind the trainer's random source, see NewRand), the policy
// optimizer's moments, the temperature and its optimizer, where the current iteration
// stands, and the replay buffer's episodes; st carries the run loop's state (its
// Step must be the trainer's update count) and any other streams the caller keeps.
// Each file is written to a temporary name and renamed; the optimizer file seals
// the buffer file with the others (SaveTrainState).
func (o *Online) SaveState(dir string, src *rand.PCG, st TrainState) error {
	if st.Loop.Step != o.updates {
		return fmt.Errorf("online: save state: the loop is at update %d, the trainer at %d", st.Loop.Step, o.updates)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("online: save state: %w", err)
	}
	if err := replay.WriteFile(filepath.Join(dir, OnlineBufferFile), o.buf.Episodes(), &replay.WriteOptions{Compress: true}); err != nil {
		return fmt.Errorf("online: save state: %w", err)
	}
	ts := o.tempOpt.State()
	rolled := 0.0
	if o.rolledOut {
		rolled = 1
	}
	st.Extra = map[string]float64{
		extraIteration:   float64(o.iter),
		extraRolledOut:   rolled,
		extraIterUpdates: float64(o.iterUpdates),
		// float32 values are exact in float64 and in JSON's shortest float64 form.
		extraLogTemp:  float64(o.logTemp.Data[0]),
		extraLogTempM: float64(ts.Tensors[0].Data[0]),
		extraLogTempV: float64(ts.Tensors[1].Data[0]),
		// Means of float64 values: exact in JSON's shortest float64 form.
		extraExploreEpisodes: float64(o.exploreMean.Episodes),
		extraExploreReturn:   o.exploreMean.Return,
		extraExploreLength:   o.exploreMean.Length,
		extraExploreSuccess:  o.exploreMean.Success,
	}
	return SaveTrainState(dir, st, src, o.opt.State(), OnlineBufferFile)
}

// LoadState restores what SaveState wrote into a trainer built with the same model
// weights (loaded by the caller), task, configuration and offline data; src is the
// PCG behind the trainer's random source. The replay buffer is replaced by the saved
// one. It returns the saved TrainState (for the loop's state). After an error, build a new
// trainer and random source before retrying.
func (o *Online) LoadState(dir string, src *rand.PCG) (TrainState, error) {
	st, opt, err := LoadTrainState(dir, src)
	if err != nil {
		return st, fmt.Errorf("online: %w", err)
	}
	get := func(key string) (float64, error) {
		v, ok := st.Extra[key]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("online: resume %s: %s has no finite %q (not an online trainer's state?)", dir, TrainStateFile, key)
		}
		return v, nil
	}
	vals := map[string]float64{}
	for _, k := range []string{extraIteration, extraRolledOut, extraIterUpdates, extraLogTemp, extraLogTempM, extraLogTempV,
		extraExploreEpisodes, extraExploreReturn, extraExploreLength, extraExploreSuccess} {
		if vals[k], err = get(k); err != nil {
			return st, err
		}
	}
	iter, iterUpdates := int(vals[extraIteration]), int(vals[extraIterUpdates])
	off := o.cfg.OfflineUpdates
	switch {
	case st.Step() < off && (iter != 0 || iterUpdates != 0 || vals[extraRolledOut] != 0):
		return st, fmt.Errorf("online: resume %s: update %d is in the offline phase (offline_updates = %d), but the state is %v updates into iteration %v",
			dir, st.Step(), off, vals[extraIterUpdates], vals[extraIteration])
	case iter < 0 || float64(iter) != vals[extraIteration] || iter > o.cfg.Iterations:
		return st, fmt.Errorf("online: resume %s: iteration %v, want an integer in [0, iterations = %d]", dir, vals[extraIteration], o.cfg.Iterations)
	case iterUpdates < 0 || float64(iterUpdates) != vals[extraIterUpdates] || iterUpdates >= o.cfg.UpdatesPerIteration:
		return st, fmt.Errorf("online: resume %s: %v updates into the iteration, want an integer in [0, updates_per_iteration = %d)", dir, vals[extraIterUpdates], o.cfg.UpdatesPerIteration)
	case st.Step() >= off && st.Step() != off+iter*o.cfg.UpdatesPerIteration+iterUpdates:
		return st, fmt.Errorf("online: resume %s: %d updates after %d iterations and %d more do not match offline_updates = %d and updates_per_iteration = %d (was the configuration changed?)",
			dir, st.Step(), iter, iterUpdates, off, o.cfg.UpdatesPerIteration)
	}
	eps, err := readEpisodes(filepath.Join(dir, OnlineBufferFile))
	if err != nil {
		return st, fmt.Errorf("online: resume: %w", err)
	}
	if len(eps) > o.cfg.BufferSize {
		return st, fmt.Errorf("online: resume %s: the saved buffer holds %d trajectories, buffer_size is %d", dir, len(eps), o.cfg.BufferSize)
	}
	buf, err := o.newBuffer(nil)
	if err != nil {
		return st, err
	}
	for i, ep := range eps {
		if err := buf.Add(ep); err != nil {
			return st, fmt.Errorf("online: resume %s: buffer episode %d: %w", dir, i, err)
		}
	}
	if err := o.opt.LoadState(opt); err != nil {
		return st, fmt.Errorf("online: resume %s: %w", dir, err)
	}
	shape := []int{1}
	tempState := nn.AdamWState{Step: st.Step(), Tensors: []*nn.Param{
		{Name: extraLogTempM, Shape: shape, Data: []float32{float32(vals[extraLogTempM])}},
		{Name: extraLogTempV, Shape: shape, Data: []float32{float32(vals[extraLogTempV])}},
	}}
	if err := o.tempOpt.LoadState(tempState); err != nil {
		return st, fmt.Errorf("online: resume %s: temperature: %w", dir, err)
	}
	o.logTemp.Data[0] = float32(vals[extraLogTemp])
	o.buf, o.bufStats = buf, nil
	o.exploreMean = exploreMeans{Episodes: int(vals[extraExploreEpisodes]), Return: vals[extraExploreReturn],
		Length: vals[extraExploreLength], Success: vals[extraExploreSuccess]}
	o.iter, o.rolledOut, o.iterUpdates, o.updates = iter, vals[extraRolledOut] != 0, iterUpdates, st.Step()
	return st, nil
}

// readEpisodes reads an episode file that may be empty.
func readEpisodes(path string) ([]*replay.Episode, error) {
	ds, err := replay.Open(path, replay.Options{AllowEmpty: true})
	if err != nil {
		return nil, err
	}
	return ds.Episodes, nil
}
