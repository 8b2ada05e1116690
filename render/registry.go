package render

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/evarl/evarl/envs"
)

// SceneSpec is how one registered environment is drawn. Scenes register by
// environment id, as environments register in envs and scripted experts in
// agents/expert, so that drawing a new environment means adding a file (here or in
// the environment's own package), not editing a type switch.
type SceneSpec struct {
	// New builds the scene that draws env, configured from the environment's own
	// physics or layout. env is what envs.Make returned (wrappers included): reach
	// the concrete type with envs.As.
	New func(env envs.Env, scale float64) (Scene, error)
	// StateFromObs, when the observation determines the state the scene draws,
	// recovers it from obs into dst (reused when it has the capacity) and returns
	// it; it returns nil for an observation it cannot read (wrong length). Leave it
	// nil for environments whose observations do not determine their state: their
	// recorded episodes are drawn from recorded states or by replaying the actions.
	StateFromObs func(obs []float32, dst []float64) []float64
}

var (
	scenesMu sync.RWMutex
	scenes   = map[string]SceneSpec{}
)

// RegisterScene makes a scene available for the environment registered as envID.
// It is meant for init functions, like envs.Register; registering an id twice or
// without a constructor is a programming error and panics.
func RegisterScene(envID string, spec SceneSpec) {
	scenesMu.Lock()
	defer scenesMu.Unlock()
	if _, dup := scenes[envID]; dup {
		panic("render: RegisterScene called twice for " + envID)
	}
	if spec.New == nil {
		panic("render: RegisterScene " + envID + " without a constructor")
	}
	scenes[envID] = spec
}

// SceneIDs lists the environment ids that have a scene, sorted.
func SceneIDs() []string {
	scenesMu.RLock()
	defer scenesMu.RUnlock()
	ids := make([]string, 0, len(scenes))
	for id := range scenes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func lookupScene(envID string) (SceneSpec, error) {
	scenesMu.RLock()
	spec, ok := scenes[envID]
	scenesMu.RUnlock()
	if !ok {
		return SceneSpec{}, fmt.Errorf("render: no scene draws %q; scenes exist for: %s", envID, strings.Join(SceneIDs(), ", "))
	}
	return spec, nil
}

// SceneFor returns the scene registered for envID, built for env (an instance of
// that environment, possibly wrapped) at the given scale.
func SceneFor(envID string, env envs.Env, scale float64) (Scene, error) {
	spec, err := lookupScene(envID)
	if err != nil {
		return nil, err
	}
	return spec.New(env, scale)
}

// sceneEnv reaches the concrete environment the scene of envID needs, or says what
// it got instead.
func sceneEnv[T any](envID string, env envs.Env) (T, error) {
	e, ok := envs.As[T](env)
	if !ok {
		var zero T
		return zero, fmt.Errorf("render: the scene of %s draws a %T, not a %T", envID, zero, envs.Unwrap(env))
	}
	return e, nil
}
