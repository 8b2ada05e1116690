package render

import (
	"encoding/json"
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
	"github.com/evarl/evarl/envs/gridworld"
	"github.com/evarl/evarl/replay"
)

// recordEpisode runs envID with random actions from a fixed seed and records it,
// states included, as the data collectors do.
func recordEpisode(t testing.TB, envID string, opts envs.Options, steps int) *replay.Episode {
	t.Helper()
	env, err := envs.Make(envID, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := replay.NewRecorder(env, envs.Task{ID: envID, EnvID: envID, Options: opts})
	obs, _, err := env.Reset(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Begin(7, obs); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < steps && !rec.Done(); i++ {
		var a []float64
		switch sp := env.ActionSpace().(type) {
		case envs.Discrete:
			a = []float64{float64(rng.IntN(sp.N))}
		case envs.Box:
			a = make([]float64, sp.Dim())
			for k := range a {
				a[k] = sp.Low[k] + rng.Float64()*(sp.High[k]-sp.Low[k])
			}
		}
		tr, err := env.Step(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Step(a, tr); err != nil {
			t.Fatal(err)
		}
	}
	ep := rec.End()
	if ep.StateDim == 0 {
		t.Fatalf("%s: the recorder stored no states", envID)
	}
	return ep
}

func withoutStates(ep *replay.Episode) *replay.Episode {
	c := *ep
	c.StateDim, c.States = 0, nil
	return &c
}

func allFrames(t testing.TB, ef *EpisodeFrames) []Frame {
	t.Helper()
	var out []Frame
	for {
		f, err := ef.Next()
		if errors.Is(err, ErrEnd) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f.State = append([]float64(nil), f.State...)
		f.LastAction = append([]float64(nil), f.LastAction...)
		out = append(out, f)
	}
}

// sameAngle compares angles modulo 2π (Pendulum's θ is not wrapped in its state,
// while atan2 of the observation is).
func sameAngle(a, b, tol float64) bool {
	d := math.Mod(a-b, 2*math.Pi)
	return math.Min(math.Abs(d), 2*math.Pi-math.Abs(d)) <= tol
}

func TestEpisodeFramesSources(t *testing.T) {
	tests := []struct {
		envID  string
		angles []bool // which state entries are angles
	}{
		{classic.CartPoleID, []bool{false, false, false, false}},
		{classic.MountainCarID, []bool{false, false}},
		{classic.MountainCarContinuousID, []bool{false, false}},
		{classic.AcrobotID, []bool{true, true, false, false}},
		{classic.PendulumID, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.envID, func(t *testing.T) {
			ep := recordEpisode(t, tt.envID, nil, 30)
			ef, err := NewEpisodeFrames(ep, 1)
			if err != nil {
				t.Fatal(err)
			}
			if ef.Source != SourceStates {
				t.Fatalf("source %q, want %q", ef.Source, SourceStates)
			}
			fromStates := allFrames(t, ef)
			if len(fromStates) != ep.Len()+1 || ef.Len() != ep.Len()+1 {
				t.Fatalf("%d frames (Len %d), want %d", len(fromStates), ef.Len(), ep.Len()+1)
			}
			ef, err = NewEpisodeFrames(withoutStates(ep), 1)
			if err != nil {
				t.Fatal(err)
			}
			if ef.Source != SourceObservations {
				t.Fatalf("without states: source %q, want %q", ef.Source, SourceObservations)
			}
			fromObs := allFrames(t, ef)
			ret := 0.0
			for i, f := range fromObs {
				want := ep.State(i)
				for k, v := range f.State {
					// Observations are float32: agreement to float32 precision.
					tol := 2e-7 * math.Max(1, math.Abs(want[k]))
					if tt.angles[k] && !sameAngle(v, want[k], 1e-6) || !tt.angles[k] && math.Abs(v-want[k]) > tol {
						t.Fatalf("step %d: state[%d] from the observation = %v, recorded %v", i, k, v, want[k])
					}
				}
				if i > 0 {
					ret += float64(ep.Rewards[i-1])
					if f.LastAction[0] != float64(ep.Action(i - 1)[0]) || f.Reward != float64(ep.Rewards[i-1]) {
						t.Fatalf("step %d: last action %v reward %v, want %v %v", i, f.LastAction, f.Reward, ep.Action(i-1), ep.Rewards[i-1])
					}
				} else if f.LastAction != nil && len(f.LastAction) != 0 {
					t.Fatalf("first frame has last action %v", f.LastAction)
				}
				if f.Step != i || math.Abs(f.Return-ret) > 1e-9 {
					t.Fatalf("frame %d: step %d return %v, want %d %v", i, f.Step, f.Return, i, ret)
				}
			}
		})
	}
}

func TestEpisodeFramesReplayGridworld(t *testing.T) {
	opts := envs.Options{"layout": gridworld.LayoutMaze, "task_seed": 5}
	ep := recordEpisode(t, gridworld.ID, opts, 40)
	// A windy held-out task with random starts, its options as a dataset file
	// stores them (JSON: lists come back as []any of float64).
	held, err := envs.LookupTaskSet("gridworld/heldout")
	if err != nil {
		t.Fatal(err)
	}
	windy := held.Tasks[len(held.Tasks)-1]
	if _, ok := windy.Options["wind"]; !ok {
		t.Fatalf("%s has no wind", windy.ID)
	}
	windyEp := recordEpisode(t, gridworld.ID, windy.Options, 40)
	raw, err := json.Marshal(windy.Options)
	if err != nil {
		t.Fatal(err)
	}
	windyEp.Options = envs.Options{}
	if err := json.Unmarshal(raw, &windyEp.Options); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*replay.Episode{ep, windyEp} {
		ef, err := NewEpisodeFrames(withoutStates(rec), 1)
		if err != nil {
			t.Fatal(err)
		}
		if ef.Source != SourceReplay {
			t.Fatalf("source %q, want %q", ef.Source, SourceReplay)
		}
		for i, f := range allFrames(t, ef) {
			for k, v := range f.State {
				if v != rec.State(i)[k] {
					t.Fatalf("%v step %d: replayed state %v, recorded %v", rec.Options, i, f.State, rec.State(i))
				}
			}
		}
	}
	// A recording that the environment does not reproduce is reported, not drawn.
	bad := withoutStates(ep)
	bad.Observations = append([]float32(nil), ep.Observations...)
	bad.Observations[3*ep.ObsDim+ep.ObsDim-1] += 0.5
	ef, err := NewEpisodeFrames(bad, 1)
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for last == nil {
		_, last = ef.Next()
	}
	if errors.Is(last, ErrEnd) || !strings.Contains(last.Error(), "diverged") || !strings.Contains(last.Error(), "step 3") {
		t.Fatalf("corrupted recording: %v, want a divergence error at step 3", last)
	}
}

func TestEpisodeFramesErrors(t *testing.T) {
	ep := recordEpisode(t, classic.CartPoleID, nil, 5)
	unknown := *ep
	unknown.EnvID = "NoSuchEnv-v9"
	if _, err := NewEpisodeFrames(&unknown, 1); err == nil || !strings.Contains(err.Error(), "NoSuchEnv-v9") {
		t.Errorf("unknown env: %v", err)
	}
	broken := *ep
	broken.Rewards = broken.Rewards[:2]
	if _, err := NewEpisodeFrames(&broken, 1); err == nil {
		t.Error("an inconsistent episode was accepted")
	}
	if _, err := NewEpisodeFrames(ep, 0); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("scale 0: %v", err)
	}
}

// TestSceneForUsesVariantPhysics: a CartPole variant with a pole twice as long
// (option length 1.0) draws pole pixels where the default pole ends.
func TestSceneForUsesVariantPhysics(t *testing.T) {
	draw := func(opts envs.Options) *image.RGBA {
		env, err := envs.Make(classic.CartPoleID, opts)
		if err != nil {
			t.Fatal(err)
		}
		s, err := SceneFor(classic.CartPoleID, env, 1)
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewRGBA(image.Rectangle{Max: s.Size()})
		if err := s.Draw(img, Frame{State: []float64{0, 0, 0, 0}}); err != nil {
			t.Fatal(err)
		}
		return img
	}
	// Upright pole at x = 0: the default (2·0.5 m = 125 px) reaches scene y ≈ 232,
	// image row ≈ 167; the long one reaches scene y ≈ 357, image row ≈ 42.
	short, long := draw(nil), draw(envs.Options{"length": 1.0})
	if got := short.RGBAAt(300, 100); got != white {
		t.Errorf("default pole reaches row 100: %v", got)
	}
	if got := long.RGBAAt(300, 100); got != cartPoleColor {
		t.Errorf("long pole at row 100 is %v, want the pole's colour", got)
	}
	grid, err := envs.Make(gridworld.ID, envs.Options{"size": 9})
	if err != nil {
		t.Fatal(err)
	}
	s, err := SceneFor(gridworld.ID, grid, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := image.Pt(9*GridCellPixels, 9*GridCellPixels); s.Size() != want {
		t.Errorf("9×9 gridworld scene is %v, want %v", s.Size(), want)
	}
}
