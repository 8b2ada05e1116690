package render

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"

	"github.com/evarl/evarl/internal/atomicfile"
)

// Sink receives rendered frames: a GIF file, a directory of PNGs or a window. The
// caller keeps ownership of img; a sink copies what it needs before returning.
type Sink interface {
	// WriteFrame adds one frame. episode and step name it (PNG file names use them).
	WriteFrame(img *image.RGBA, episode, step int) error
	// Close finishes the output; only then does a file-backed sink appear at its path.
	Close() error
	// Abort discards the output, leaving nothing behind. Abort after Close is a no-op.
	Abort()
}

// GIFFile is a Sink writing one animated GIF. It writes to a temporary file beside
// the destination and renames it into place on Close (package atomicfile), so an
// error or a crash never leaves a partial GIF at the destination.
type GIFFile struct {
	path string
	tmp  *atomicfile.File
	gw   *GIFWriter
	done bool
}

var _ Sink = (*GIFFile)(nil)

// CreateGIF starts a GIF at path for frames of the given size.
func CreateGIF(path string, size image.Point, pal *Palette, fps float64) (*GIFFile, error) {
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	gw, err := NewGIFWriter(tmp, size, pal, fps)
	if err != nil {
		tmp.Abort()
		return nil, err
	}
	return &GIFFile{path: path, tmp: tmp, gw: gw}, nil
}

// WriteFrame appends a frame.
func (f *GIFFile) WriteFrame(img *image.RGBA, _, _ int) error {
	if f.done {
		return errors.New("render: GIF file is closed")
	}
	if err := f.gw.WriteFrame(img); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

// Close writes the trailer, syncs and renames the file into place. On error the
// temporary file is removed.
func (f *GIFFile) Close() error {
	if f.done {
		return nil
	}
	f.done = true
	if err := f.gw.Close(); err != nil {
		f.tmp.Abort()
		return fmt.Errorf("render: write %s: %w", f.path, err)
	}
	if err := f.tmp.Commit(); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}

// Abort removes the temporary file.
func (f *GIFFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Abort()
}

// PNGDir is a Sink writing one PNG per frame, named episodeEEE_stepSSSSS.png, into a
// directory. The frames go into a temporary directory beside the destination, which
// is moved into place on Close (package atomicfile); the destination must not exist
// yet (or be an empty directory), so that frames of an earlier run never mix with
// this one's.
type PNGDir struct {
	dir  string
	tmp  *atomicfile.Dir
	enc  png.Encoder
	done bool
}

var _ Sink = (*PNGDir)(nil)

// CreatePNGDir starts a PNG frame directory at dir.
func CreatePNGDir(dir string) (*PNGDir, error) {
	if err := checkFreeDir(dir); err != nil {
		return nil, err
	}
	tmp, err := atomicfile.CreateDir(dir)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return &PNGDir{dir: dir, tmp: tmp, enc: png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}}, nil
}

func checkFreeDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("render: output directory %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("render: output directory %s exists and is not empty; remove it or choose another", dir)
	}
	return nil
}

// WriteFrame writes one PNG.
func (d *PNGDir) WriteFrame(img *image.RGBA, episode, step int) error {
	if d.done {
		return errors.New("render: PNG directory is closed")
	}
	name := d.tmp.Join(fmt.Sprintf("episode%03d_step%05d.png", episode, step))
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	err = d.enc.Encode(f, img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("render: write %s: %w", name, err)
	}
	return nil
}

// Close moves the directory into place.
func (d *PNGDir) Close() error {
	if d.done {
		return nil
	}
	d.done = true
	// An empty destination directory (checked at creation) is replaced.
	if err := checkFreeDir(d.dir); err != nil {
		d.tmp.Abort()
		return err
	}
	if err := d.tmp.Commit(); err != nil {
		return fmt.Errorf("render: move frames into place: %w", err)
	}
	return nil
}

// Abort removes the temporary directory and the frames in it.
func (d *PNGDir) Abort() {
	if d.done {
		return
	}
	d.done = true
	d.tmp.Abort()
}

// pngPool keeps one encoder buffer, so encoding many frames does not reallocate the
// compressor's state each time.
type pngPool struct{ b *png.EncoderBuffer }

func (p *pngPool) Get() *png.EncoderBuffer  { b := p.b; p.b = nil; return b }
func (p *pngPool) Put(b *png.EncoderBuffer) { p.b = b }
