package nn

import (
	"fmt"
	"math/rand/v2"
)

// Dropout zeroes each element with probability P during training and scales the
// survivors by 1/(1−P) ("inverted" dropout, as PyTorch), so evaluation is the
// identity and needs no rescaling. Randomness comes from the *rand.Rand the layer is
// given, so a seed fixes every mask.
//
// The mask is counter-based: a training Forward draws one 64-bit seed from the
// generator, and element i is dropped when a 32-bit hash of (i, seed) falls below
// P·2³² (dropHash). So the mask does not depend on how the elements are split
// across workers, long slices run in parallel, the hash runs eight lanes at a time
// on the vector unit, and Backward regenerates the mask from the seed instead of
// keeping it.
type Dropout struct {
	P     float32
	Train bool // false: Forward copies x to y and Backward passes dy through
	rng   *rand.Rand

	seed uint64 // of the last training Forward's mask
	n    int    // elements that Forward saw

	// The call in progress, for runRange.
	op            dropOp
	x, res, y, dx []float32
}

// SetRand makes the layer draw its masks from rng from now on (a run that takes
// over a model sets its own seeded stream).
func (d *Dropout) SetRand(rng *rand.Rand) {
	if rng == nil {
		panic("nn: Dropout.SetRand: nil random source")
	}
	d.rng = rng
}

// dropOp names what runRange computes.
type dropOp int

const (
	dropForward    dropOp = iota // y = mask·x
	dropForwardAdd               // y = res + mask·x
	dropBackward                 // dx += mask·dy (dy in x)
)

// NewDropout returns a layer in training mode. p must lie in [0, 1).
func NewDropout(p float32, rng *rand.Rand) *Dropout {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("nn: dropout probability %v outside [0, 1)", p))
	}
	if rng == nil {
		panic("nn: dropout needs a *rand.Rand")
	}
	return &Dropout{P: p, Train: true, rng: rng}
}

// active reports whether Forward draws a mask.
func (d *Dropout) active() bool { return d.Train && d.P > 0 }

// Forward overwrites y with the dropped-out x (same length); y may be x.
func (d *Dropout) Forward(x, y []float32) {
	y = y[:len(x)]
	if !d.active() {
		copy(y, x)
		return
	}
	d.start(len(x))
	d.run(dropForward, x, nil, y, nil)
}

// ForwardAdd overwrites y with res + dropout(x), the residual connection after a
// dropped-out branch, in one pass; y may be x or res. Backward is that of Forward:
// the gradient of res is the incoming gradient itself.
func (d *Dropout) ForwardAdd(x, res, y []float32) {
	y, res = y[:len(x)], res[:len(x)]
	if !d.active() {
		for i, v := range x {
			y[i] = res[i] + v
		}
		return
	}
	d.start(len(x))
	d.run(dropForwardAdd, x, res, y, nil)
}

// Backward adds dy, masked and scaled as the last Forward did, into dx.
func (d *Dropout) Backward(dy, dx []float32) {
	dx = dx[:len(dy)]
	if !d.active() {
		for i, g := range dy {
			dx[i] += g
		}
		return
	}
	if d.n != len(dy) {
		panic(fmt.Sprintf("nn: dropout Backward over %d elements, Forward saw %d", len(dy), d.n))
	}
	d.run(dropBackward, dy, nil, nil, dx)
}

// start draws the seed of a new mask over n elements.
func (d *Dropout) start(n int) {
	d.seed, d.n = d.rng.Uint64(), n
}

// run applies op to all elements, split across the workers for long slices.
func (d *Dropout) run(op dropOp, x, res, y, dx []float32) {
	d.op, d.x, d.res, d.y, d.dx = op, x, res, y, dx
	if n := len(x); n >= ParallelMinElems {
		parallelRange(d, n)
	} else {
		d.runRange(0, n)
	}
	d.x, d.res, d.y, d.dx = nil, nil, nil, nil // the caller's slices are not kept
}

// runRange implements rangeRunner for elements [lo, hi).
func (d *Dropout) runRange(lo, hi int) {
	k := dropConsts{
		seedLo: uint32(d.seed), seedHi: uint32(d.seed >> 32),
		thrFlip: uint32(float64(d.P)*(1<<32)) ^ 1<<31,
		keep:    1 / (1 - d.P),
	}
	x, res, y := d.x[lo:hi], d.res, d.y
	switch d.op {
	case dropForward:
		res, y = nil, y[lo:hi]
	case dropForwardAdd:
		res, y = res[lo:hi], y[lo:hi]
	case dropBackward:
		res, y = d.dx[lo:hi], d.dx[lo:hi] // dx += mask·dy
	}
	done := dropoutVec(x, res, y, lo, &k)
	if res != nil {
		res = res[done:]
	}
	dropoutGo(x[done:], res, y[done:], lo+done, &k)
}

// dropoutGo is the plain-Go loop of the mask (the vector kernel's twin, bit for
// bit): y[i] = res[i] + x[i]·s, or x[i]·s when res is nil, with s the scale of
// element i0+i.
func dropoutGo(x, res, y []float32, i0 int, k *dropConsts) {
	thr := k.thrFlip ^ 1<<31
	y = y[:len(x)]
	for i, v := range x {
		s := k.keep
		if dropHash(uint32(i0+i), k.seedLo, k.seedHi) < thr {
			s = 0
		}
		if res != nil {
			y[i] = res[i] + float32(v*s) // rounded product: no fused multiply-add
		} else {
			y[i] = v * s
		}
	}
}

// dropHash is the 32 random bits of element j of a mask: two rounds of Wellons'
// lowbias32 integer mixer (a bijection with low bias), keyed by the seed's halves.
func dropHash(j, seedLo, seedHi uint32) uint32 {
	return lowbias32(lowbias32(j^seedLo) ^ seedHi)
}

// lowbias32 is Chris Wellons' 32-bit integer hash "lowbias32" (constants from his
// hash-prospector search).
func lowbias32(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// dropoutMaskNaive is the plain-loop twin of the mask: the scale (0 or 1/(1−p))
// of each of n elements for a seed, one hash per element.
func dropoutMaskNaive(p float32, seed uint64, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		bits := dropHash(uint32(i), uint32(seed), uint32(seed>>32))
		if float64(bits) >= float64(p)*(1<<32) {
			out[i] = 1 / (1 - p)
		}
	}
	return out
}

// lastMask returns the scales of the last training Forward's mask, from the naive
// twin: tests rebuild what Forward and Backward applied.
func (d *Dropout) lastMask() []float32 { return dropoutMaskNaive(d.P, d.seed, d.n) }
