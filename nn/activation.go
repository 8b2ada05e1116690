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
// ½(1 + tanh u) = σ(2u) exactly and one exponential is cheaper than a tanh. Long
// slices are split across the worker goroutines.
func GELUForward(x, y []float32) {
	parallelElementwise(geluForward, x, y[:len(x)], nil, nil)
}

func geluForward(x, y, _, _ []float32) {
	if geluForwardVec(x, y) {
		return
	}
	geluForwardGo(x, y)
}

// geluForwardGo is the plain-Go loop of geluForward (the vector kernel's twin).
func geluForwardGo(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		u := geluK * (v + 0.044715*v*v*v)
		y[i] = v / (1 + expNarrow(-2*u))
	}
}

// GELUBackward adds dy·gelu'(x) into dx, where
// gelu'(x) = s + x·s·(1−s)·2·√(2/π)·(1 + 3·0.044715·x²) and s = σ(2u).
func GELUBackward(x, dy, dx []float32) {
	parallelElementwise(geluBackward, x, dy[:len(x)], dx[:len(x)], nil)
}

func geluBackward(x, dy, dx, _ []float32) {
	for i, v := range x {
		u := geluK * (v + 0.044715*v*v*v)
		s := 1 / (1 + expNarrow(-2*u))
		du := 2 * geluK * (1 + 3*0.044715*v*v)
		dx[i] += dy[i] * (s + v*s*(1-s)*du)
	}
}

// GELUBackwardWithOutput is GELUBackward for callers that kept the forward output y
// (a model keeps it anyway, as the input of the next layer): σ(2u) = y/x, so it needs
// a division where GELUBackward evaluates an exponential, and runs in about half the
// time. For |x| ≤ 1e-30, where y/x would lose precision, it uses σ(2u) = ½, exact
// to float32 precision there. y must be GELUForward's output for x.
func GELUBackwardWithOutput(x, y, dy, dx []float32) {
	n := len(x)
	y, dy, dx = y[:n], dy[:n], dx[:n]
	parallelElementwise(geluBackwardWithOutput, x, y, dy, dx)
}

func geluBackwardWithOutput(x, y, dy, dx []float32) {
	if geluBackwardOutVec(x, y, dy, dx) {
		return
	}
	geluBackwardWithOutputGo(x, y, dy, dx)
}

// geluBackwardWithOutputGo is the plain-Go loop of geluBackwardWithOutput (the
// vector kernel's twin).
func geluBackwardWithOutputGo(x, y, dy, dx []float32) {
	y, dy, dx = y[:len(x)], dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		s := float32(0.5)
		if v > 1e-30 || v < -1e-30 {
			s = y[i] / v
		}
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
		y[i] = math.Float32frombits(math.Float32bits(v) & positiveMask(v))
	}
}

// ReLUBackward adds dy where x > 0 into dx (the derivative at 0 is taken as 0, as
// PyTorch does).
func ReLUBackward(x, dy, dx []float32) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		dx[i] += math.Float32frombits(math.Float32bits(dy[i]) & positiveMask(v))
	}
}

// positiveMask is all ones when v > 0 and zero otherwise (−0, negatives), without a
// branch: signs of ReLU inputs are random, and with a branch per element ReLU took
// about 4× the CPU time (12 against 3 ms over 2M elements). The sign bit of −i & ^i is set exactly when i = bits(v),
// read as int32, is positive.
func positiveMask(v float32) uint32 {
	b := math.Float32bits(v)
	return uint32(int32(-b&^b) >> 31)
}

// expNarrow is expf for arguments clamped to [−87, 88], where the result is a normal
// float32: no special cases remain, so it inlines into the GELU and softmax loops.
// Below −87 it returns e^−87 ≈ 1.6e-38 instead of a smaller number, which makes no
// difference wherever it is added to 1 or to a softmax row's maximum term.
func expNarrow(x float32) float32 {
	x = min(max(x, -87), 88)
	kf := (1.44269504088896341*x + 0x1.8p23) - 0x1.8p23
	r := x - kf*0.693359375 - kf*-2.12194440e-4
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	return (p*r*r + r + 1) * math.Float32frombits(uint32(int32(kf)+127)<<23)
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
	// Round x·log2(e) to the nearest integer by adding and subtracting 1.5·2²³: float32
	// keeps no fraction bits at that magnitude (Go evaluates float32 expressions in
	// float32, so the trick is exact and cheaper than math.Floor).
	const round = 0x1.8p23
	kf := (log2e*x + round) - round
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
