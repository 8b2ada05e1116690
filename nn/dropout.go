package nn

import (
	"fmt"
	"math/rand/v2"
)

// Dropout zeroes each element with probability P during training and scales the
// survivors by 1/(1−P) ("inverted" dropout, as PyTorch), so evaluation is the
// identity and needs no rescaling. Randomness comes from the *rand.Rand the layer is
// given, so a seed fixes every mask.
type Dropout struct {
	P     float32
	Train bool // false: Forward copies x to y and Backward passes dy through
	rng   *rand.Rand
	scale []float32 // per element 0 or 1/(1−P), saved by a training Forward
}

// SetRand makes the layer draw its masks from rng from now on (a run that takes
// over a model sets its own seeded stream).
func (d *Dropout) SetRand(rng *rand.Rand) {
	if rng == nil {
		panic("nn: Dropout.SetRand: nil random source")
	}
	d.rng = rng
}

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
	d.scale = grow(d.scale, len(x))
	keep := 1 / (1 - d.P)
	// An element is dropped when 32 random bits fall below P·2³²; one Uint64 from the
	// generator serves two elements, half the cost of a Float32 per element.
	thr := uint32(float64(d.P) * (1 << 32))
	var bits uint64
	for i, v := range x {
		if i&1 == 0 {
			bits = d.rng.Uint64()
		} else {
			bits >>= 32
		}
		if uint32(bits) < thr {
			d.scale[i] = 0
		} else {
			d.scale[i] = keep
		}
		y[i] = v * d.scale[i]
	}
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
	if len(d.scale) != len(dy) {
		panic(fmt.Sprintf("nn: dropout Backward over %d elements, Forward saw %d", len(dy), len(d.scale)))
	}
	for i, g := range dy {
		dx[i] += g * d.scale[i]
	}
}
