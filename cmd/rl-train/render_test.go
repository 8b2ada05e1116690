package main

import (
	"bytes"
	"image/gif"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
	"github.com/evarl/evarl/envs/gridworld"
	"github.com/evarl/evarl/replay"
)

// recordForRender records random-action episodes of envID (states stripped when
// noStates, so that the renderer must reconstruct them).
func recordForRender(t *testing.T, envID string, opts envs.Options, seed int64, steps int, noStates bool) *replay.Episode {
	t.Helper()
	env, err := envs.Make(envID, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := replay.NewRecorder(env, envs.Task{ID: envID, EnvID: envID, Options: opts})
	obs, _, err := env.Reset(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Begin(seed, obs); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	n := env.ActionSpace().(envs.Discrete).N
	for i := 0; i < steps && !rec.Done(); i++ {
		a := []float64{float64(rng.IntN(n))}
		tr, err := env.Step(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Step(a, tr); err != nil {
			t.Fatal(err)
		}
	}
	ep := rec.End()
	if noStates {
		ep.StateDim, ep.States = 0, nil
	}
	return ep
}

func writeReplay(t *testing.T, eps ...*replay.Episode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "episodes.evr")
	w, err := replay.Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		if err := w.Write(ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRenderSmoke(t *testing.T) {
	eps := []*replay.Episode{
		recordForRender(t, classic.CartPoleID, nil, 1, 20, true),
		recordForRender(t, classic.CartPoleID, nil, 2, 15, false),
	}
	path := writeReplay(t, eps...)
	out := filepath.Join(t.TempDir(), "cartpole.gif")
	var stdout, stderr bytes.Buffer
	if err := runWith([]string{"render", path, "--out", out, "--fps", "25"}, &stdout, &stderr); err != nil {
		t.Fatalf("render: %v\n%s", err, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatalf("output is not a GIF: %v", err)
	}
	if want := eps[0].Len() + 1 + eps[1].Len() + 1; len(g.Image) != want {
		t.Errorf("%d frames, want %d (steps + 1 per episode)", len(g.Image), want)
	}
	if g.Config.Width != 600 || g.Config.Height != 400 {
		t.Errorf("GIF is %dx%d, want 600x400", g.Config.Width, g.Config.Height)
	}
	if g.Delay[0] != 4 {
		t.Errorf("delay %d cs at 25 fps, want 4", g.Delay[0])
	}

	// One episode of a gridworld, states rebuilt by replaying its actions, as PNGs
	// at scale 2.
	grid := recordForRender(t, gridworld.ID, envs.Options{"layout": "lava", "task_seed": 2}, 3, 12, true)
	path = writeReplay(t, recordForRender(t, gridworld.ID, nil, 4, 5, false), grid)
	dir := filepath.Join(t.TempDir(), "frames")
	if err := runWith([]string{"render", path, "--out", dir, "--episodes", "1", "--scale", "2"}, &stdout, &stderr); err != nil {
		t.Fatalf("render png: %v\n%s", err, stderr.String())
	}
	names, err := filepath.Glob(filepath.Join(dir, "episode001_step*.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != grid.Len()+1 {
		t.Fatalf("%d PNG frames, want %d", len(names), grid.Len()+1)
	}
	pf, err := os.Open(names[0])
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cfg, err := png.DecodeConfig(pf)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * 11 * 32; cfg.Width != want || cfg.Height != want {
		t.Errorf("PNG is %dx%d, want %dx%d (11 cells of 32 px, scale 2)", cfg.Width, cfg.Height, want, want)
	}
}

func TestRenderBadInput(t *testing.T) {
	ep := recordForRender(t, classic.CartPoleID, nil, 1, 30, false)
	good := writeReplay(t, ep)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	corrupted := filepath.Join(tmp, "corrupted.evr")
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xFF
	truncated := filepath.Join(tmp, "truncated.evr")
	notAFile := filepath.Join(tmp, "plain.txt")
	for p, d := range map[string][]byte{corrupted: bad, truncated: data[:len(data)-100], notAFile: []byte("hello")} {
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A gridworld episode whose recording the environment does not reproduce from
	// step 4 on: the failure comes after frames were written, which must vanish too.
	diverging := recordForRender(t, gridworld.ID, nil, 5, 10, true)
	diverging.Observations[4*diverging.ObsDim] += 0.5
	divergingPath := writeReplay(t, diverging)
	outDir := t.TempDir()
	gifOut := filepath.Join(outDir, "out.gif")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"corrupted", []string{"render", corrupted, "--out", gifOut}, "corrupted.evr"},
		{"truncated", []string{"render", truncated, "--out", gifOut}, "--allow-truncated"},
		{"not a replay file", []string{"render", notAFile, "--out", gifOut}, "plain.txt"},
		{"missing file", []string{"render", filepath.Join(tmp, "nope.evr"), "--out", gifOut}, "nope.evr"},
		{"episode out of range", []string{"render", good, "--out", gifOut, "--episodes", "0,3"}, "episode 3 does not exist"},
		{"negative episode", []string{"render", good, "--out", gifOut, "--episodes", "-1"}, "episode -1 does not exist"},
		{"unwritable output", []string{"render", good, "--out", filepath.Join(notAFile, "x.gif")}, "x.gif"},
		{"fps too high for GIF", []string{"render", good, "--out", gifOut, "--fps", "100"}, "fps"},
		{"bad scale", []string{"render", good, "--out", gifOut, "--scale", "0"}, "scale"},
		{"no out", []string{"render", good}, "--out"},
		{"diverging replay, GIF", []string{"render", divergingPath, "--out", gifOut}, "diverged"},
		{"diverging replay, PNG", []string{"render", divergingPath, "--out", filepath.Join(outDir, "frames")}, "diverged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runWith(tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			t.Log(err)
			left, _ := os.ReadDir(outDir)
			if len(left) != 0 {
				t.Fatalf("output directory holds %v after a failure, want nothing", left)
			}
		})
	}
}

// TestRenderAllowTruncated: with --allow-truncated the complete episodes before a
// torn last record are drawn.
func TestRenderAllowTruncated(t *testing.T) {
	a := recordForRender(t, classic.CartPoleID, nil, 1, 8, false)
	b := recordForRender(t, classic.CartPoleID, nil, 2, 8, false)
	path := writeReplay(t, a, b)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)-50], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "a.gif")
	var stdout, stderr bytes.Buffer
	if err := runWith([]string{"render", path, "--out", out, "--allow-truncated"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != a.Len()+1 {
		t.Errorf("%d frames, want the first episode's %d", len(g.Image), a.Len()+1)
	}
}

func TestRenderPNGDirMustBeNew(t *testing.T) {
	path := writeReplay(t, recordForRender(t, classic.CartPoleID, nil, 1, 5, false))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := runWith([]string{"render", path, "--out", dir}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err = %v, want a not-empty error", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory now holds %d entries, want the 1 it had", len(entries))
	}
}
