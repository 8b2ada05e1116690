package nn

import "math"

// GELU and ReLU work element by element on slices of any shape: y and dx have the
// length of x. Forward overwrites y; Backward adds into dx, so y may be x (in place)
// but dx must not alias dy.

// geluK is √(2/π), the constant of GELU's tanh approximation.
const geluK = 0.7978845608028654

// GELUForward computes GPT-2's tanh approximation of GELU,
//
//	gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
//
// in the equivalent form x·σ(2u) with u = √(2/π)·(x + 0.044715·x³), because
// ½(1 + tanh u) = σ(2u) exactly and one exponential is cheaper than a tanh.
func GELUForward(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		u := geluK * (v + 0.044715*v*v*v)
		y[i] = v / (1 + expf(-2*u))
	}
}

// GELUBackward adds dy·gelu'(x) into dx, where
// gelu'(x) = s + x·s·(1−s)·2·√(2/π)·(1 + 3·0.044715·x²) and s = σ(2u).
func GELUBackward(x, dy, dx []float32) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		u := geluK * (v + 0.044715*v*v*v)
		s := 1 / (1 + expf(-2*u))
		du := 2 * geluK * (1 + 3*0.044715*v*v)
		dx[i] += dy[i] * (s + v*s*(1-s)*du)
	}
}

// geluForwardNaive is the textbook tanh form, the twin GELUForward is tested against.
func geluForwardNaive(x, y []float32) {
	for i, v := range x {
		xv := float64(v)
		y[i] = float32(0.5 * xv * (1 + math.Tanh(geluK*(xv+0.044715*xv*xv*xv))))
	}
}

// ReLUForward computes y = max(x, 0).
func ReLUForward(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = 0
		}
	}
}

// ReLUBackward adds dy where x > 0 into dx (the derivative at 0 is taken as 0, as
// PyTorch does).
func ReLUBackward(x, dy, dx []float32) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		if v > 0 {
			dx[i] += dy[i]
		}
	}
}

// expf is a float32 exponential accurate to about 2 ulp over the float32 range,
// several times faster than math.Exp: it splits x = k·ln2 + r with |r| ≤ ln2/2 and
// evaluates e^r with a degree-6 polynomial (Cody–Waite reduction with the constants
// of Cephes' expf). Results saturate to 0 and +Inf outside float32's range.
func expf(x float32) float32 {
	const (
		maxArg = 88.72283
		minArg = -103.27893
		log2e  = 1.44269504088896341
		ln2hi  = 0.693359375
		ln2lo  = -2.12194440e-4
	)
	if x > maxArg {
		return float32(math.Inf(1))
	}
	if x < minArg {
		return 0
	}
	kf := float32(math.Floor(float64(log2e*x + 0.5)))
	r := x - kf*ln2hi - kf*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	e := p*r*r + r + 1
	k := int32(kf)
	if k > 127 {
		// e^x just below float32's maximum: 2^128 itself is not representable.
		return e * 2 * math.Float32frombits(uint32(127+127)<<23)
	}
	if k < -126 {
		// Subnormal result: scale in two steps so the exponent field stays valid.
		return e * math.Float32frombits(uint32(k+126+127)<<23) * math.Float32frombits(1<<23)
	}
	return e * math.Float32frombits(uint32(k+127)<<23)
}
