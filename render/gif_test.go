package render

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// cartPoleFrames draws n CartPole frames along a swinging trajectory, with overlay.
func cartPoleFrames(t testing.TB, n int) ([]*image.RGBA, *CartPole) {
	t.Helper()
	s, err := NewCartPole(DefaultCartPoleParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ov := NewOverlay()
	var out []*image.RGBA
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rectangle{Max: s.Size()})
		f := Frame{State: []float64{math.Sin(float64(i) / 5), 0, 0.2 * math.Cos(float64(i)/3), 0}, Step: i, Reward: 1, Return: float64(i)}
		if i == n-1 && n > 2 {
			f = Frame{State: []float64{math.Sin(float64(i-1) / 5), 0, 0.2 * math.Cos(float64(i-1)/3), 0}, Step: i - 1, Reward: 1, Return: float64(i - 1)}
		}
		if err := s.Draw(img, f); err != nil {
			t.Fatal(err)
		}
		ov.Draw(img, f)
		out = append(out, img)
	}
	return out, s
}

// composite plays a decoded GIF as a viewer does (disposal "none" and transparency
// are all this writer uses) and returns the picture after every frame.
func composite(t *testing.T, g *gif.GIF) []*image.RGBA {
	t.Helper()
	canvas := image.NewRGBA(image.Rect(0, 0, g.Config.Width, g.Config.Height))
	var out []*image.RGBA
	for i, fr := range g.Image {
		if g.Disposal[i] != gif.DisposalNone {
			t.Fatalf("frame %d disposal %d, want DisposalNone", i, g.Disposal[i])
		}
		for y := fr.Rect.Min.Y; y < fr.Rect.Max.Y; y++ {
			for x := fr.Rect.Min.X; x < fr.Rect.Max.X; x++ {
				if _, _, _, a := fr.At(x, y).RGBA(); a == 0 {
					continue
				}
				canvas.Set(x, y, fr.At(x, y))
			}
		}
		out = append(out, image.NewRGBA(canvas.Rect))
		copy(out[len(out)-1].Pix, canvas.Pix)
	}
	return out
}

func TestGIFWriterRoundTrip(t *testing.T) {
	const n, fps = 12, 30
	frames, scene := cartPoleFrames(t, n)
	pal := NewPalette(append(scene.Colors(), OverlayColor, OverlayBackground)...)
	var buf bytes.Buffer
	w, err := NewGIFWriter(&buf, scene.Size(), pal, fps)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(&buf)
	if err != nil {
		t.Fatalf("image/gif cannot decode the stream: %v", err)
	}
	if len(g.Image) != n {
		t.Fatalf("decoded %d frames, want %d", len(g.Image), n)
	}
	if g.LoopCount != 0 {
		t.Errorf("loop count %d, want 0 (forever)", g.LoopCount)
	}
	total := 0
	for _, d := range g.Delay {
		total += d
	}
	if want := int(math.Round(n * 100.0 / fps)); total != want {
		t.Errorf("delays sum to %d cs, want %d (n/fps)", total, want)
	}
	full := image.Rectangle{Max: scene.Size()}
	if g.Image[0].Rect != full {
		t.Errorf("first frame %v, want the full %v", g.Image[0].Rect, full)
	}
	for i := 1; i < n; i++ {
		want := naiveChangedRect(frames[i-1], frames[i])
		if want.Empty() {
			want = image.Rect(0, 0, 1, 1) // a repeated frame: a 1×1 placeholder
		}
		if got := g.Image[i].Rect; got != want {
			t.Errorf("frame %d covers %v, want the changed rectangle %v", i, got, want)
		}
	}
	for i, got := range composite(t, g) {
		want := frames[i]
		for p := 0; p < len(want.Pix); p += 4 {
			q := pal.Colors()[pal.Index(want.Pix[p], want.Pix[p+1], want.Pix[p+2])].(color.RGBA)
			if got.Pix[p] != q.R || got.Pix[p+1] != q.G || got.Pix[p+2] != q.B {
				x, y := (p/4)%full.Dx(), (p/4)/full.Dx()
				t.Fatalf("frame %d pixel (%d, %d) = %v, want palette colour %v of %v", i, x, y, got.Pix[p:p+3], q, want.Pix[p:p+3])
			}
		}
	}
}

// naiveChangedRect is the bounding box of the pixels that differ, pixel by pixel.
func naiveChangedRect(a, b *image.RGBA) image.Rectangle {
	var r image.Rectangle
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			if a.RGBAAt(x, y) != b.RGBAAt(x, y) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func TestPaletteKeepsSceneColoursAndBlendsClose(t *testing.T) {
	scene := []color.RGBA{white, black, cartPoleColor, cartAxleColor}
	pal := NewPalette(scene...)
	for _, c := range scene {
		got := pal.Colors()[pal.Index(c.R, c.G, c.B)].(color.RGBA)
		if got != c {
			t.Errorf("scene colour %v maps to %v", c, got)
		}
	}
	// Anti-aliased edges are blends with the background: they stay within a few
	// levels of the true colour.
	for _, c := range scene[1:] {
		for k := 0; k <= 32; k++ {
			b := blend(white, c, float64(k)/32)
			got := pal.Colors()[pal.Index(b.R, b.G, b.B)].(color.RGBA)
			if d := max(absDiff(got.R, b.R), absDiff(got.G, b.G), absDiff(got.B, b.B)); d > 20 {
				t.Errorf("blend %v maps to %v (off by %d)", b, got, d)
			}
		}
	}
	for i := 0; i < 256; i++ {
		r, g, b := uint8(i), uint8(255-i), uint8(i*7)
		if idx := pal.Index(r, g, b); idx == TransparentIndex {
			t.Fatalf("colour %v mapped to the transparent slot", []uint8{r, g, b})
		}
	}
}

// TestGIFWriterNoisyFrames stresses the LZW path past its 4096-code table (clear
// codes) with random pixels, against image/gif's decoder.
func TestGIFWriterNoisyFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	size := image.Pt(97, 61)
	pal := NewPalette(white, black)
	var buf bytes.Buffer
	w, err := NewGIFWriter(&buf, size, pal, 10)
	if err != nil {
		t.Fatal(err)
	}
	var frames []*image.RGBA
	for i := 0; i < 3; i++ {
		img := image.NewRGBA(image.Rectangle{Max: size})
		for p := range img.Pix {
			img.Pix[p] = uint8(rng.IntN(256))
		}
		frames = append(frames, img)
		if err := w.WriteFrame(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range composite(t, g) {
		for p := 0; p < len(got.Pix); p += 4 {
			f := frames[i].Pix
			q := pal.Colors()[pal.Index(f[p], f[p+1], f[p+2])].(color.RGBA)
			if got.Pix[p] != q.R || got.Pix[p+1] != q.G || got.Pix[p+2] != q.B {
				t.Fatalf("frame %d pixel %d = %v, want %v", i, p/4, got.Pix[p:p+3], q)
			}
		}
	}
}

func TestGIFWriterErrors(t *testing.T) {
	pal := NewPalette(white)
	size := image.Pt(10, 10)
	for _, fps := range []float64{0, -1, 51, math.NaN(), math.Inf(1)} {
		if _, err := NewGIFWriter(&bytes.Buffer{}, size, pal, fps); err == nil || !strings.Contains(err.Error(), "fps") {
			t.Errorf("fps %v: err %v, want an fps error", fps, err)
		}
	}
	w, err := NewGIFWriter(&bytes.Buffer{}, size, pal, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(image.NewRGBA(image.Rect(0, 0, 11, 10))); err == nil {
		t.Error("a frame of the wrong size was accepted")
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "no frames") {
		t.Errorf("Close without frames: %v, want a no-frames error", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errTestWrite
	}
	return len(p), nil
}

var errTestWrite = &testWriteError{}

type testWriteError struct{}

func (*testWriteError) Error() string { return "disk full" }

func TestGIFWriterStickyError(t *testing.T) {
	frames, scene := cartPoleFrames(t, 40)
	w, err := NewGIFWriter(&failWriter{after: 3000}, scene.Size(), NewPalette(scene.Colors()...), 20)
	if err != nil {
		t.Fatal(err)
	}
	var first error
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			first = err
			break
		}
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded after the destination failed")
	}
	if first == nil {
		// The failure may surface only at the final flush.
		return
	}
	if err := w.WriteFrame(frames[0]); err != first {
		t.Errorf("after a failure WriteFrame returned %v, want the sticky %v", err, first)
	}
}
