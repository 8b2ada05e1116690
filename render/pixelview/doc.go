// Package pixelview shows rendered frames in a window with github.com/faiface/pixel
// (v0.10.0, OpenGL through GLFW). It is compiled only with the build tag `pixel`, so
// the default build needs neither cgo nor the OpenGL and X11 development packages:
//
//	go build -tags pixel ./cmd/rl-train
//
// needs, on Debian: gcc libc6-dev pkg-config libgl1-mesa-dev libgl1-mesa-dri
// libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
// (and xvfb xauth to run headless under xvfb-run).
//
// Drawing stays in package render; this package only uploads finished *image.RGBA
// frames into the window's canvas (a texture) and presents them.
//
// Threads: OpenGL and GLFW must run on the process's main thread. Run must be called
// from the main goroutine (a command's RunE, or TestMain); it checks for a display
// first and turns GLFW's panics into errors, so a machine without a display gets an
// error, never a crash. Window methods may be called from the function Run runs.
package pixelview
