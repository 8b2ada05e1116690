package render

import (
	"fmt"
	"image"
	"image/color"
	"slices"
	"strings"
	"testing"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/classic"
	"github.com/evarl/evarl/envs/gridworld"
	"github.com/evarl/evarl/replay"
)

// TestEveryEnvironmentHasAScene: each environment registered in envs (by the
// packages render imports) has a registered scene, so `rl-train render` draws all of
// them.
func TestEveryEnvironmentHasAScene(t *testing.T) {
	ids := SceneIDs()
	for _, id := range envs.IDs() {
		if id == lineEnvID {
			continue
		}
		if !slices.Contains(ids, id) {
			t.Errorf("environment %s has no scene (scenes: %v)", id, ids)
		}
	}
}

func TestSceneForErrors(t *testing.T) {
	cart, err := envs.Make(classic.CartPoleID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SceneFor("NoSuchEnv-v9", cart, 1); err == nil || !strings.Contains(err.Error(), "NoSuchEnv-v9") || !strings.Contains(err.Error(), classic.CartPoleID) {
		t.Errorf("unknown id: err = %v, want one naming the id and listing the scenes", err)
	}
	if _, err := SceneFor(gridworld.ID, cart, 1); err == nil || !strings.Contains(err.Error(), "*classic.CartPole") {
		t.Errorf("gridworld scene for a CartPole: err = %v, want one naming the type it got", err)
	}
	if _, err := SceneFor(classic.CartPoleID, cart, 0); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("scale 0: err = %v", err)
	}
}

func TestRegisterScenePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"duplicate":      func() { RegisterScene(classic.CartPoleID, SceneSpec{New: cartPoleScene}) },
		"no constructor": func() { RegisterScene("RenderTestNothing-v0", SceneSpec{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: RegisterScene did not panic", name)
				}
			}()
			f()
		}()
	}
}

// lineEnv is a user's own environment, registered from outside the render code: a
// point on a line of 8 cells, moved left (action 0) or right (1), observing its
// position. It checks that registering a scene is all it takes to draw a new
// environment's replays.
type lineEnv struct {
	pos float64
	obs []float64
}

const lineEnvID = "RenderTestLine-v0"

func (e *lineEnv) ObservationSpace() envs.Space { return envs.NewBox([]float64{0}, []float64{7}) }
func (e *lineEnv) ActionSpace() envs.Space      { return envs.Discrete{N: 2} }
func (e *lineEnv) Reset(seed int64) ([]float64, envs.Info, error) {
	e.pos = float64(seed % 8)
	e.obs[0] = e.pos
	return e.obs, envs.Info{}, nil
}
func (e *lineEnv) Step(a []float64) (envs.Transition, error) {
	e.pos = max(0, min(7, e.pos+2*a[0]-1))
	e.obs[0] = e.pos
	return envs.Transition{Obs: e.obs, Reward: e.pos}, nil
}

// lineScene paints the cell of the point black on a white 8×1 strip.
type lineScene struct{}

func (lineScene) Size() image.Point    { return image.Pt(8, 1) }
func (lineScene) Colors() []color.RGBA { return []color.RGBA{white, black} }
func (lineScene) Draw(dst *image.RGBA, f Frame) error {
	if len(f.State) != 1 {
		return fmt.Errorf("line state %v", f.State)
	}
	for x := range 8 {
		c := white
		if x == int(f.State[0]) {
			c = black
		}
		dst.SetRGBA(x, 0, c)
	}
	return nil
}

func init() {
	envs.Register(envs.Spec{ID: lineEnvID, Family: "rendertest", MaxEpisodeSteps: 10,
		New: func(envs.Options) (envs.Env, error) { return &lineEnv{obs: make([]float64, 1)}, nil }})
	RegisterScene(lineEnvID, SceneSpec{
		New: func(env envs.Env, _ float64) (Scene, error) {
			if _, err := sceneEnv[*lineEnv](lineEnvID, env); err != nil {
				return nil, err
			}
			return lineScene{}, nil
		},
		StateFromObs: observedState(1),
	})
}

func TestRegisteredSceneDrawsReplays(t *testing.T) {
	env, err := envs.Make(lineEnvID, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := replay.NewRecorder(env, envs.Task{ID: lineEnvID, EnvID: lineEnvID})
	obs, _, _ := env.Reset(3)
	if err := rec.Begin(3, obs); err != nil {
		t.Fatal(err)
	}
	for _, a := range []float64{1, 1, 0} {
		tr, err := env.Step([]float64{a})
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Step([]float64{a}, tr); err != nil {
			t.Fatal(err)
		}
	}
	ef, err := NewEpisodeFrames(rec.End(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if ef.Source != SourceObservations {
		t.Errorf("source %q, want %q", ef.Source, SourceObservations)
	}
	var drawn []int
	img := image.NewRGBA(image.Rectangle{Max: ef.Scene.Size()})
	for _, f := range allFrames(t, ef) {
		if err := ef.Scene.Draw(img, f); err != nil {
			t.Fatal(err)
		}
		for x := range 8 {
			if img.RGBAAt(x, 0) == black {
				drawn = append(drawn, x)
			}
		}
	}
	if want := []int{3, 4, 5, 4}; !slices.Equal(drawn, want) {
		t.Errorf("the point was drawn at %v, want %v", drawn, want)
	}
}
