package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dropout zeroes each element with probability P during training and scales the
// survivors by 1/(1−P) ("inverted" dropout, as PyTorch), so evaluation is the
// identity and needs no rescaling. Randomness comes from the *rand.Rand the layer is
// given, so a seed fixes every mask.
//
// The mask is counter-based: a training Forward draws one 64-bit seed from the
// generator, and element i is dropped when 32 bits of splitmix64(seed, ⌊i/2⌋) fall
// below P·2³² (the low half for even i, the high half for odd i). So the mask does not
// depend on how the elements are split across workers, long slices run in parallel,
// and Backward regenerates the mask from the seed instead of keeping it.
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

// runRange implements rangeRunner for elements [lo, hi): pairs of elements share
// one hash, so a range that starts or ends inside a pair handles that element alone.
func (d *Dropout) runRange(lo, hi int) {
	keepBits := math.Float32bits(1 / (1 - d.P))
	thr := uint32(float64(d.P) * (1 << 32))
	i := lo
	if i&1 == 1 && i < hi {
		d.apply(i, dropScale(uint32(splitmix64(d.seed, uint64(i>>1))>>32), thr, keepBits))
		i++
	}
	x := d.x[:hi]
	switch d.op {
	case dropForward:
		y := d.y[:hi]
		for ; i+1 < hi; i += 2 {
			h := splitmix64(d.seed, uint64(i>>1))
			y[i] = x[i] * dropScale(uint32(h), thr, keepBits)
			y[i+1] = x[i+1] * dropScale(uint32(h>>32), thr, keepBits)
		}
	case dropForwardAdd:
		res, y := d.res[:hi], d.y[:hi]
		for ; i+1 < hi; i += 2 {
			h := splitmix64(d.seed, uint64(i>>1))
			y[i] = res[i] + x[i]*dropScale(uint32(h), thr, keepBits)
			y[i+1] = res[i+1] + x[i+1]*dropScale(uint32(h>>32), thr, keepBits)
		}
	case dropBackward:
		dx := d.dx[:hi]
		for ; i+1 < hi; i += 2 {
			h := splitmix64(d.seed, uint64(i>>1))
			dx[i] += x[i] * dropScale(uint32(h), thr, keepBits)
			dx[i+1] += x[i+1] * dropScale(uint32(h>>32), thr, keepBits)
		}
	}
	if i < hi {
		d.apply(i, dropScale(uint32(splitmix64(d.seed, uint64(i>>1))), thr, keepBits))
	}
}

// apply does the current op for element i with scale s.
func (d *Dropout) apply(i int, s float32) {
	switch d.op {
	case dropForward:
		d.y[i] = d.x[i] * s
	case dropForwardAdd:
		d.y[i] = d.res[i] + d.x[i]*s
	case dropBackward:
		d.dx[i] += d.x[i] * s
	}
}

// dropScale is 0 when bits < thr (dropped) and the float32 whose bits are keepBits
// otherwise, without a branch: drops are random, and a mispredicted branch per
// element cost more than the hash.
func dropScale(bits, thr, keepBits uint32) float32 {
	borrow := uint32((uint64(bits) - uint64(thr)) >> 63) // 1 when bits < thr
	return math.Float32frombits(keepBits & (borrow - 1))
}

// splitmix64 is the output function of Steele, Lea and Flood's SplitMix64 generator
// at position i of the stream with the given seed (Java's SplittableRandom; the
// constants are those of Vigna's reference implementation): a 64-bit hash of (seed,
// i) of generator quality, cheap enough to inline.
func splitmix64(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// dropoutMaskNaive is the plain-loop twin of the mask: the scale (0 or 1/(1−p))
// of each of n elements for a seed, one hash per element.
func dropoutMaskNaive(p float32, seed uint64, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		bits := uint32(splitmix64(seed, uint64(i/2)) >> (32 * (i % 2)))
		if float64(bits) >= float64(p)*(1<<32) {
			out[i] = 1 / (1 - p)
		}
	}
	return out
}

// lastMask returns the scales of the last training Forward's mask, from the naive
// twin: tests rebuild what Forward and Backward applied.
func (d *Dropout) lastMask() []float32 { return dropoutMaskNaive(d.P, d.seed, d.n) }
