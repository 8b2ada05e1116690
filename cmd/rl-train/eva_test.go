package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
)

// tinyCartPoleCheckpoint saves a small untrained DT for CartPole: the smoke test
// checks the command's plumbing, not the quality of the policy.
func tinyCartPoleCheckpoint(t *testing.T) string {
	t.Helper()
	cfg := policy.DefaultConfig(4, policy.ActionSpace{Discrete: 2})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.ReturnScale = 16, 1, 2, 4, 600, 100
	m, err := policy.New(cfg, rand.New(rand.NewPCG(1, 1)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEvaSmoke(t *testing.T) {
	ckpt := tinyCartPoleCheckpoint(t)
	out := filepath.Join(t.TempDir(), "state", "eva.safetensors")
	path := writeConfig(t, fmt.Sprintf(`checkpoint: %s
tasks: cartpole/heldout-01
target: 500
seed: 3
out: %s
lora: {r: 2, alpha: 4, target_modules: [attn.q, attn.k, attn.v, attn.o, mlp.fc, mlp.proj]}
eva: {rho: 2, tau: 0.99, max_batches: 300, rollout_episodes: 4, num_envs: 2, batch: 8}
`, ckpt, out))
	var stdout, stderr bytes.Buffer
	if err := runWith([]string{"eva", "--config", path}, &stdout, &stderr); err != nil {
		t.Fatalf("eva: %v\nstderr:\n%s", err, stderr.String())
	}
	s, err := eva.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	text := stdout.String()
	t.Logf("stdout:\n%s", text)
	total := 0
	for _, l := range s.Layers {
		total += l.Rank
		if !strings.Contains(text, l.Name) {
			t.Errorf("output does not list %s:\n%s", l.Name, text)
		}
	}
	if len(s.Layers) != 6 || total != 12 {
		t.Errorf("%d layers with ranks summing to %d, want 6 layers and the budget 12", len(s.Layers), total)
	}
	if !strings.Contains(text, "EVA state written to") || !strings.Contains(stderr.String(), "layer converged") {
		t.Errorf("missing summary or progress:\nstdout:\n%s\nstderr:\n%s", text, stderr.String())
	}
}

func TestEvaConfigErrors(t *testing.T) {
	ckpt := tinyCartPoleCheckpoint(t)
	tests := []struct{ yaml, want string }{
		{"tasks: cartpole/heldout-01\n", "checkpoint is empty"},
		{"checkpoint: " + ckpt + "\ntasks: nope\n", `"nope"`},
		{"checkpoint: " + ckpt + "\ntasks: cartpole/heldout-01\neva: {rho: 0.5}\n", "rho = 0.5"},
		{"checkpoint: " + ckpt + "\ntasks: cartpole/heldout-01\neva: {tau: 2}\n", "tau = 2"},
		{"checkpoint: " + ckpt + "\ntasks: cartpole/heldout-01\nlora: {r: 0}\n", "r = 0"},
		{"checkpoint: " + ckpt + "\ntasks: cartpole/heldout-01\neva: {source: dataset}\n", "no dataset files"},
		{"checkpoint: " + ckpt + "\ntasks: cartpole/heldout-01\neva: {rhoo: 2}\n", "rhoo"},
		{"checkpoint: " + ckpt + "\ntask_set: cartpole/heldout\ntask: cartpole/heldout-01\n", "key task_set no longer exists; write tasks"},
		{"checkpoint: " + ckpt + "\ntasks: cartpole/heldout-01\nbatch_size: 8\n", "write eva.batch"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := runWith([]string{"eva", "--config", writeConfig(t, tt.yaml)}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: error %v, want one containing %q", tt.yaml, err, tt.want)
		}
	}
}
