package agents

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/limits"
	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/replay"
)

// savedTrainState runs a tiny offline trainer for a few steps and saves its state.
func savedTrainState(t *testing.T) string {
	t.Helper()
	eps := syntheticEpisodes(rand.New(rand.NewPCG(5, 6)), 6, 8, 3)
	tr, src := newTinyTrainer(t, 3, eps, 4)
	for i := 0; i < 3; i++ {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := SaveTrainState(dir, TrainState{Loop: LoopState{Step: tr.StepCount(), Best: 0.5, BestStep: 2}, Extra: map[string]float64{"eva_seconds": 1.5}}, src, tr.Optimizer().State()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTrainStateRoundTrip(t *testing.T) {
	dir := savedTrainState(t)
	_, src := NewRand(99)
	st, opt, err := LoadTrainState(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Step() != 3 || st.Loop.Best != 0.5 || st.Loop.BestStep != 2 || st.Extra["eva_seconds"] != 1.5 || opt.Step != 3 || len(opt.Tensors) == 0 {
		t.Errorf("loaded %+v, optimizer step %d with %d tensors", st, opt.Step, len(opt.Tensors))
	}
}

// Bit flips anywhere in optimizer.safetensors are refused (before sealing, 20 of 20
// resumed silently), and so is any edit of trainer_state.json.
func TestTrainStateCorruptionIsRefused(t *testing.T) {
	dir := savedTrainState(t)
	optPath := filepath.Join(dir, OptimizerFile)
	orig, _ := os.ReadFile(optPath)
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 200; trial++ {
		b := append([]byte(nil), orig...)
		i := rng.IntN(len(b))
		b[i] ^= 1 << rng.IntN(8)
		os.WriteFile(optPath, b, 0o644)
		_, src := NewRand(1)
		if _, _, err := LoadTrainState(dir, src); err == nil || !strings.Contains(err.Error(), OptimizerFile) {
			t.Fatalf("flip at byte %d of %d: LoadTrainState = %v, want an error naming %s", i, len(b), err, OptimizerFile)
		}
	}
	os.WriteFile(optPath, orig, 0o644)

	statePath := filepath.Join(dir, TrainStateFile)
	js, _ := os.ReadFile(statePath)
	for _, edit := range []func(map[string]any){
		func(v map[string]any) { v["loop"].(map[string]any)["step"] = 2 },
		func(v map[string]any) { v["loop"].(map[string]any)["best_score"] = 0.9 },
		func(v map[string]any) { v["extra"].(map[string]any)["eva_seconds"] = 2.5 },
	} {
		var v map[string]any
		json.Unmarshal(js, &v)
		edit(v)
		b, _ := json.MarshalIndent(v, "", "  ")
		os.WriteFile(statePath, append(b, '\n'), 0o644)
		_, src := NewRand(1)
		if _, _, err := LoadTrainState(dir, src); !errors.Is(err, safetensors.ErrMismatch) || !strings.Contains(err.Error(), statePath) {
			t.Errorf("edited trainer_state.json: %v, want a checksum mismatch naming it", err)
		}
	}
}

// A train state without checksums (saved before they existed) is refused, naming
// the file and why.
func TestTrainStateUnsealedIsRefused(t *testing.T) {
	dir := savedTrainState(t)
	p := filepath.Join(dir, OptimizerFile)
	f, _ := safetensors.ReadFile(p)
	for k := range f.Metadata {
		if strings.HasPrefix(k, "evarl_sha256") {
			delete(f.Metadata, k)
		}
	}
	safetensors.WriteFile(p, f)
	_, src := NewRand(1)
	if _, _, err := LoadTrainState(dir, src); !errors.Is(err, safetensors.ErrUnverified) || !strings.Contains(err.Error(), p) {
		t.Errorf("unsealed optimizer file: %v", err)
	}
}

// The online trainer's replay buffer is sealed with the train state: damaging it, or
// replacing it with another run's, stops the resume.
func TestOnlineBufferIsVerified(t *testing.T) {
	task := gridTask()
	rng, src := NewRand(9)
	m := stochasticModel(t, task, 16, 4, rng)
	o, err := NewOnline(m, nil, task, nil, tinyOnline(2), rng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Iterate(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := o.SaveState(dir, src, TrainState{Loop: LoopState{Step: o.Updates(), BestStep: -1}}); err != nil {
		t.Fatal(err)
	}
	eps := o.Buffer().Episodes()
	// A valid episode file with one episode fewer: only the checksum can tell.
	if err := replay.WriteFile(filepath.Join(dir, OnlineBufferFile), eps[:len(eps)-1], nil); err != nil {
		t.Fatal(err)
	}
	_, src2 := NewRand(1)
	if _, err := o.LoadState(dir, src2); !errors.Is(err, safetensors.ErrMismatch) || !strings.Contains(err.Error(), OnlineBufferFile) {
		t.Errorf("shortened replay buffer: %v, want a checksum mismatch naming %s", err, OnlineBufferFile)
	}
}

func TestDecodeTrainStateErrors(t *testing.T) {
	good, _ := json.Marshal(TrainState{Loop: LoopState{Step: 1, BestStep: -1}, Rand: mustRand(t)})
	if _, err := DecodeTrainState("s.json", good); err != nil {
		t.Fatalf("good state: %v", err)
	}
	for _, tc := range []struct{ data, want string }{
		{`{"loop": {"step": -1, "best_step": -1}, "rand": ""}`, "loop state"},
		{`{"loop": {"step": 1, "best_step": 2}, "rand": ""}`, "best_step ≤ step"},
		{`{"loop": {"step": 1, "best_step": -1}, "rand": "AAAA"}`, "rand"},
		{`{"loop": {"step": 1, "best_step": -1}, "rand": "", "optimizer": 1}`, `unknown field "optimizer"`},
		{string(good) + "{}", "after the JSON object"},
		{`[1]`, "cannot unmarshal"},
	} {
		if _, err := DecodeTrainState("s.json", []byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "s.json") {
			t.Errorf("%s: error %v, want one naming the file and %q", tc.data, err, tc.want)
		}
	}
}

func mustRand(t *testing.T) []byte {
	_, src := NewRand(3)
	b, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Batch sizes and online sizes that cannot fit are errors naming the field and the
// limit, before anything is allocated.
func TestTrainerSizeLimits(t *testing.T) {
	eps := syntheticEpisodes(rand.New(rand.NewPCG(5, 6)), 6, 8, 3)
	tr, _ := newTinyTrainer(t, 3, eps, 4)
	sampler, _ := replay.NewSampler(eps)
	tc := DefaultTrainConfig(4)
	tc.BatchSize = 1000000000
	_, err := NewOffline(tr.Model(), nil, sampler, tc, rand.New(rand.NewPCG(1, 1)))
	if !errors.Is(err, limits.ErrTooLarge) || !strings.Contains(err.Error(), "batch_size = 1000000000") || !strings.Contains(err.Error(), "at most") {
		t.Errorf("offline batch_size 1e9: %v", err)
	}

	task := gridTask()
	rng, _ := NewRand(9)
	m := stochasticModel(t, task, 16, 4, rng)
	for _, tc := range []struct {
		field string
		edit  func(*OnlineConfig)
	}{
		{"batch_size = 1000000000", func(c *OnlineConfig) { c.BatchSize = 1000000000 }},
		{"num_envs = 1000000000", func(c *OnlineConfig) { c.NumEnvs, c.EpisodesPerIteration = 1000000000, 1000000000 }},
		{"episodes_per_iteration = 100000000000", func(c *OnlineConfig) { c.EpisodesPerIteration = 100000000000 }},
	} {
		c := tinyOnline(1)
		tc.edit(&c)
		if _, err := NewOnline(m, nil, task, nil, c, rng); !errors.Is(err, limits.ErrTooLarge) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
}

// The optimizer file round-trips through its decoder.
func TestOptimizerEncoding(t *testing.T) {
	dir := savedTrainState(t)
	f, err := safetensors.ReadFile(filepath.Join(dir, OptimizerFile))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := decodeOptimizer("o", f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := encodeOptimizer(opt)
	if err != nil {
		t.Fatal(err)
	}
	again, err := decodeOptimizer("o", g)
	if err != nil || !reflect.DeepEqual(opt, again) {
		t.Errorf("optimizer state changed in a round trip: %v", err)
	}
}
