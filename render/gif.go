package render

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
)

// GIFWriter streams an animated GIF one frame at a time.
//
// The standard library's gif.EncodeAll needs every frame in memory at once, so this
// writer lays out the GIF89a container itself (header, global palette, looping
// extension, per-frame graphic control extension and image descriptor) and uses
// compress/lzw (LSB order, as GIF specifies) for the pixel data. Memory is two
// frames (the previous RGBA frame and one index buffer) however long the animation.
//
// Every frame after the first is cropped to the rectangle that changed since the
// previous one; inside it, unchanged pixels are written as TransparentIndex, and the
// frame's disposal is "do not dispose", so a viewer keeps the previous picture under
// it. A frame identical to the previous one becomes a 1×1 transparent frame that
// only carries its delay.
//
// Errors are sticky: after a failed write every call returns the same error.
type GIFWriter struct {
	bw     *bufio.Writer
	pal    *Palette
	size   image.Point
	fps    float64
	frames int

	prev []uint8 // the previous frame's RGBA pixels
	idx  []uint8 // palette indices of the current (cropped) frame
	blk  blockWriter
	lzw  *lzw.Writer
	err  error
}

// MaxGIFFPS is the highest frame rate a GIF can express: delays are whole
// hundredths of a second, and most viewers slow delays under 2 down to 10.
const MaxGIFFPS = 50

// NewGIFWriter writes the GIF header for frames of the given size to w, with palette
// pal and fps frames per second (0 < fps ≤ MaxGIFFPS); the animation loops forever.
func NewGIFWriter(w io.Writer, size image.Point, pal *Palette, fps float64) (*GIFWriter, error) {
	if size.X < 1 || size.Y < 1 || size.X > 65535 || size.Y > 65535 {
		return nil, fmt.Errorf("render: GIF size %v: want 1 to 65535 pixels a side", size)
	}
	if !(fps > 0) || fps > MaxGIFFPS || math.IsInf(fps, 0) {
		return nil, fmt.Errorf("render: GIF fps %v: want a number in (0, %d]", fps, MaxGIFFPS)
	}
	g := &GIFWriter{
		bw: bufio.NewWriterSize(w, 64<<10), pal: pal, size: size, fps: fps,
		prev: make([]uint8, 4*size.X*size.Y), idx: make([]uint8, size.X*size.Y),
	}
	g.blk.w = g.bw
	var hdr []byte
	hdr = append(hdr, "GIF89a"...)
	hdr = le16(hdr, size.X)
	hdr = le16(hdr, size.Y)
	hdr = append(hdr, 0xF7, 0, 0) // global colour table of 2^(7+1) entries, 8-bit colour; background 0; square pixels
	for _, c := range pal.Colors() {
		r, gr, b, _ := c.RGBA()
		hdr = append(hdr, byte(r>>8), byte(gr>>8), byte(b>>8))
	}
	// NETSCAPE2.0 application extension: loop forever.
	hdr = append(hdr, 0x21, 0xFF, 0x0B)
	hdr = append(hdr, "NETSCAPE2.0"...)
	hdr = append(hdr, 0x03, 0x01, 0x00, 0x00, 0x00)
	if _, err := g.bw.Write(hdr); err != nil {
		return nil, fmt.Errorf("render: write GIF header: %w", err)
	}
	return g, nil
}

func le16(b []byte, v int) []byte { return append(b, byte(v), byte(v>>8)) }

// delay is frame i's delay in hundredths of a second; rounding the cumulative time
// keeps a fractional rate (e.g. 30 fps) exact on average.
func (g *GIFWriter) delay(i int) int {
	at := func(k int) int { return int(math.Round(float64(k) * 100 / g.fps)) }
	return at(i+1) - at(i)
}

// WriteFrame appends img, which must have the writer's size with its origin at (0, 0).
func (g *GIFWriter) WriteFrame(img *image.RGBA) error {
	if g.err != nil {
		return g.err
	}
	if img.Rect != (image.Rectangle{Max: g.size}) {
		return fmt.Errorf("render: GIF frame is %v, want %v", img.Rect, image.Rectangle{Max: g.size})
	}
	w := g.size.X
	var r image.Rectangle
	first := g.frames == 0
	if first {
		r = image.Rectangle{Max: g.size}
	} else {
		r = changedRect(g.prev, img.Pix, w, img.Stride)
		if r.Empty() {
			r = image.Rect(0, 0, 1, 1)
		}
	}
	// Map the rectangle to palette indices; unchanged pixels become transparent.
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := img.Pix[y*img.Stride+4*r.Min.X : y*img.Stride+4*r.Max.X]
		old := g.prev[4*(y*w+r.Min.X) : 4*(y*w+r.Max.X)]
		for i := 0; i < len(src); i += 4 {
			if !first && binary.LittleEndian.Uint32(src[i:]) == binary.LittleEndian.Uint32(old[i:]) {
				g.idx[n] = TransparentIndex
			} else {
				g.idx[n] = g.pal.Index(src[i], src[i+1], src[i+2])
			}
			n++
		}
		copy(old, src)
	}
	g.err = g.writeImage(r, g.idx[:n], !first, g.delay(g.frames))
	if g.err == nil {
		g.frames++
	}
	return g.err
}

// changedRect is the bounding box of the pixels that differ between prev (stride
// 4·w) and cur (stride curStride). Unchanged rows are skipped with bytes.Equal
// (vectorised); alpha counts too, which is harmless since scenes are opaque.
func changedRect(prev, cur []uint8, w, curStride int) image.Rectangle {
	h := len(prev) / (4 * w)
	minX, minY, maxX, maxY := w, h, -1, -1
	for y := 0; y < h; y++ {
		p := prev[4*y*w : 4*(y+1)*w]
		c := cur[y*curStride : y*curStride+4*w]
		if bytes.Equal(p, c) {
			continue
		}
		x0 := 0
		for x0 < w && binary.LittleEndian.Uint32(p[4*x0:]) == binary.LittleEndian.Uint32(c[4*x0:]) {
			x0++
		}
		x1 := w - 1
		for x1 > x0 && binary.LittleEndian.Uint32(p[4*x1:]) == binary.LittleEndian.Uint32(c[4*x1:]) {
			x1--
		}
		minX, maxX = min(minX, x0), max(maxX, x1)
		minY, maxY = min(minY, y), y
	}
	if maxX < 0 {
		return image.Rectangle{}
	}
	return image.Rect(minX, minY, maxX+1, maxY+1)
}

func (g *GIFWriter) writeImage(r image.Rectangle, pix []uint8, transparent bool, delay int) error {
	var b [19]byte
	h := b[:0]
	// Graphic control extension: disposal 1 (leave in place), optional transparency.
	packed := byte(1 << 2)
	if transparent {
		packed |= 1
	}
	h = append(h, 0x21, 0xF9, 0x04, packed)
	h = le16(h, delay)
	h = append(h, TransparentIndex, 0x00)
	// Image descriptor (no local colour table, not interlaced).
	h = append(h, 0x2C)
	h = le16(h, r.Min.X)
	h = le16(h, r.Min.Y)
	h = le16(h, r.Dx())
	h = le16(h, r.Dy())
	h = append(h, 0x00)
	if _, err := g.bw.Write(h); err != nil {
		return fmt.Errorf("render: write GIF frame %d: %w", g.frames, err)
	}
	// Image data: LZW minimum code size, then LZW codes in sub-blocks of ≤255 bytes.
	if err := g.bw.WriteByte(8); err != nil {
		return fmt.Errorf("render: write GIF frame %d: %w", g.frames, err)
	}
	g.blk.n = 0
	if g.lzw == nil {
		g.lzw = lzw.NewWriter(&g.blk, lzw.LSB, 8).(*lzw.Writer)
	} else {
		g.lzw.Reset(&g.blk, lzw.LSB, 8)
	}
	if _, err := g.lzw.Write(pix); err != nil {
		return fmt.Errorf("render: write GIF frame %d: %w", g.frames, err)
	}
	if err := g.lzw.Close(); err != nil {
		return fmt.Errorf("render: write GIF frame %d: %w", g.frames, err)
	}
	if err := g.blk.close(); err != nil {
		return fmt.Errorf("render: write GIF frame %d: %w", g.frames, err)
	}
	return nil
}

// Frames is the number of frames written so far.
func (g *GIFWriter) Frames() int { return g.frames }

// Close writes the GIF trailer and flushes; it does not close the underlying
// writer. A GIF needs at least one frame.
func (g *GIFWriter) Close() error {
	if g.err != nil {
		return g.err
	}
	if g.frames == 0 {
		g.err = errors.New("render: GIF has no frames")
		return g.err
	}
	if err := g.bw.WriteByte(0x3B); err != nil {
		g.err = fmt.Errorf("render: write GIF trailer: %w", err)
		return g.err
	}
	if err := g.bw.Flush(); err != nil {
		g.err = fmt.Errorf("render: flush GIF: %w", err)
		return g.err
	}
	g.err = errors.New("render: GIF writer is closed")
	return nil
}

// blockWriter splits a byte stream into GIF data sub-blocks (a length byte, then up
// to 255 bytes); close flushes the last one and writes the zero-length terminator.
type blockWriter struct {
	w   *bufio.Writer
	buf [256]byte
	n   int
}

func (b *blockWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := copy(b.buf[1+b.n:], p)
		b.n += k
		p = p[k:]
		if b.n == 255 {
			if err := b.flush(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// WriteByte lets compress/lzw write without wrapping us in a bufio.Writer.
func (b *blockWriter) WriteByte(c byte) error {
	b.buf[1+b.n] = c
	b.n++
	if b.n == 255 {
		return b.flush()
	}
	return nil
}

// Flush ends the current sub-block early; with WriteByte it lets compress/lzw write
// straight into the blockWriter instead of through a bufio.Writer it allocates.
func (b *blockWriter) Flush() error { return b.flush() }

func (b *blockWriter) flush() error {
	if b.n == 0 {
		return nil
	}
	b.buf[0] = byte(b.n)
	_, err := b.w.Write(b.buf[:1+b.n])
	b.n = 0
	return err
}

func (b *blockWriter) close() error {
	if err := b.flush(); err != nil {
		return err
	}
	return b.w.WriteByte(0)
}
