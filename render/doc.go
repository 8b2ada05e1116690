// Package render draws environment frames and writes them out: pure-Go scenes drawn
// with golang.org/x/image/vector into *image.RGBA, an overlay with step, reward and
// return, a streaming animated-GIF writer and a PNG frame writer. `rl-train render`
// and `rl-train watch` (with render/pixelview, build tag pixel) use it.
//
// # Scenes
//
// A Scene draws one environment from a Frame: the environment's internal state (its
// envs.Stateful layout) plus the last action. CartPole, MountainCar (both variants),
// Acrobot and Pendulum reproduce Gymnasium's pygame renders: same frame sizes (600×400,
// 500×500), colours, shapes and draw order, checked against Gymnasium's own frames
// (compare_test.go states the metric). Pendulum's torque arrow, a bitmap in
// Gymnasium, is approximated with vector shapes. GridWorld draws walls, lava,
// the goal and the agent as a triangle along its heading.
//
// # The scene registry
//
// Scenes register by environment id (RegisterScene, from an init function), as
// environments register in envs and scripted experts in agents/expert: each
// environment's SceneSpec sits in the file of its drawing code (cartpole.go,
// mountaincar.go, acrobot.go, pendulum.go, gridworld.go), and nothing else in the
// package knows the concrete environments. SceneFor(envID, env, scale) looks the
// spec up and builds the scene from the environment's own physics or layout;
// NewEpisodeFrames turns a recorded replay.Episode into frames (from recorded states,
// from observations where the spec's StateFromObs recovers the state, or by replaying
// the actions). Drawing a new environment takes one RegisterScene call, which may
// live in the environment's own package.
//
// # Ownership and coordinates
//
// The caller owns the destination: Scene.Draw paints into an *image.RGBA of exactly
// Scene.Size() at the origin (Render adapts any draw.Image). Scenes keep scratch
// buffers and a cached static background, so a scene is used by one goroutine at a
// time, and drawing does not allocate. Scene code works in Gymnasium's coordinates
// (y up, pixel centres on integers) and a Canvas maps them to the image, scaled.
//
// # Writers
//
// Sinks (GIFFile, PNGDir) write to a temporary name beside the destination and
// rename on Close, so an error or a crash never leaves a partial output; Abort
// removes the temporary. GIFWriter streams frames with a fixed palette (Palette),
// crops each frame to the rectangle that changed and keeps two frames of memory
// whatever the episode length.
package render
