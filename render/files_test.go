package render

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestPNGDirWritesFramesAtomically(t *testing.T) {
	frames, _ := cartPoleFrames(t, 3)
	parent := t.TempDir()
	dir := filepath.Join(parent, "frames")
	d, err := CreatePNGDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := d.WriteFrame(f, 2, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the directory exists before Close (err %v)", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for i, want := range frames {
		f, err := os.Open(filepath.Join(dir, "episode002_step0000"+string(rune('0'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < want.Rect.Dy(); y += 7 {
			for x := 0; x < want.Rect.Dx(); x += 7 {
				r, g, b, _ := img.At(x, y).RGBA()
				w := want.RGBAAt(x, y)
				if uint8(r>>8) != w.R || uint8(g>>8) != w.G || uint8(b>>8) != w.B {
					t.Fatalf("frame %d pixel (%d, %d) differs", i, x, y)
				}
			}
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("parent holds %d entries, want only the frames directory", len(entries))
	}
}

func TestSinksAbortLeaveNothing(t *testing.T) {
	frames, scene := cartPoleFrames(t, 2)
	parent := t.TempDir()
	g, err := CreateGIF(filepath.Join(parent, "a.gif"), scene.Size(), NewPalette(scene.Colors()...), 10)
	if err != nil {
		t.Fatal(err)
	}
	d, err := CreatePNGDir(filepath.Join(parent, "frames"))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := g.WriteFrame(f, 0, i); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteFrame(f, 0, i); err != nil {
			t.Fatal(err)
		}
	}
	g.Abort()
	d.Abort()
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("after Abort the directory holds %v", entries)
	}
	// A GIF without frames is an error at Close, and leaves nothing either.
	g, err = CreateGIF(filepath.Join(parent, "b.gif"), scene.Size(), NewPalette(scene.Colors()...), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err == nil {
		t.Error("closing an empty GIF succeeded")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("after a failed Close the directory holds %v", entries)
	}
	if err := g.WriteFrame(image.NewRGBA(image.Rectangle{Max: scene.Size()}), 0, 0); err == nil {
		t.Error("WriteFrame after Close succeeded")
	}
}
