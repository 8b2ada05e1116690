package main

import (
	"context"
	"image"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/render"
)

// tinyPolicy saves an untrained policy for GridWorld-v0 and returns its directory.
func tinyPolicy(t *testing.T, task envs.Task) (string, *policy.Model) {
	t.Helper()
	env, err := task.Make()
	if err != nil {
		t.Fatal(err)
	}
	space, err := agents.ActionSpaceOf(env.ActionSpace())
	if err != nil {
		t.Fatal(err)
	}
	cfg := policy.DefaultConfig(env.ObservationSpace().Dim(), space)
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Dropout = 16, 1, 2, 4, 64, 0
	m, err := policy.New(cfg, rand.New(rand.NewPCG(7, 7)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "policy")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// TestLivePlayer: the frames of a live episode follow the same episode that the
// evaluation code runs for the same seed and target: one frame per step plus the
// first, and the last frame's return is the evaluated return.
func TestLivePlayer(t *testing.T) {
	tasks, err := envs.ResolveTasks("pipetest/heldout-00")
	if err != nil {
		t.Fatal(err)
	}
	_, m := tinyPolicy(t, tasks[0])
	const seed, target = 5, 1.0
	p, err := livePlayer(m, tasks[0], target, seed, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rectangle{Max: p.Scene.Size()})
	frames := 0
	lastStep := -1
	err = p.Play(context.Background(), img, render.NewOverlay(), func(_ *image.RGBA, step int) error {
		frames++
		if step != lastStep+1 {
			t.Errorf("frame step %d after %d", step, lastStep)
		}
		lastStep = step
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := agents.Evaluate(context.Background(), m, tasks, agents.EvalConfig{Episodes: 1, Targets: []float64{target}, NumEnvs: 1, Seed: seed, Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := res[0].Lengths[0] + 1; frames != want {
		t.Errorf("%d frames, want %d (the evaluated episode's length + 1)", frames, want)
	}
}

func TestWatchArguments(t *testing.T) {
	if !pixelBuilt {
		t.Skip("without the pixel tag watch refuses before reading arguments (TestWatchWithoutPixelTag)")
	}
	for _, args := range [][]string{
		{"watch"},
		{"watch", "x.evds", "--checkpoint", "y"},
		{"watch", "--checkpoint", "y"},
	} {
		if err := runWith(args, &discard{}, &discard{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
