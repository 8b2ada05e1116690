// Package nprand reproduces the part of NumPy's random module that Gymnasium uses to
// reset its classic-control environments: np.random.default_rng(seed), that is a
// SeedSequence feeding a PCG64 bit generator, and Generator.uniform. With it,
// Reset(seed) in Go gives bit for bit the first observation Gymnasium gives.
//
// The algorithms are those of NumPy (numpy/random/bit_generator.pyx for SeedSequence,
// numpy/random/src/pcg64 for PCG64, distributions.c for uniform), which in turn follow
// Melissa O'Neill's PCG paper and her seed_seq_fe design. The reference values in the
// tests come from Gymnasium's recorded resets.
package nprand

import "math/bits"

// SeedSequence constants (NumPy bit_generator.pyx).
const (
	initA     uint32 = 0x43b0d7e5
	multA     uint32 = 0x931e8875
	initB     uint32 = 0x8b51f9dd
	multB     uint32 = 0x58f38ded
	mixMultL  uint32 = 0xca01f9dd
	mixMultR  uint32 = 0x4973f715
	xshift           = 16 // 4 bytes * 8 / 2
	poolSize         = 4
	seedWords        = 4 // PCG64 asks for 4 uint64: the state (2) and the increment (2)
)

// hashmix is SeedSequence's hashmix: it scrambles value with a running constant.
func hashmix(value uint32, hashConst *uint32) uint32 {
	value ^= *hashConst
	*hashConst *= multA
	value *= *hashConst
	value ^= value >> xshift
	return value
}

// mix combines two words, as SeedSequence's mix.
func mix(x, y uint32) uint32 {
	r := mixMultL*x - mixMultR*y
	r ^= r >> xshift
	return r
}

// entropyWords splits a non-negative seed into little-endian uint32 words, as NumPy's
// _coerce_to_uint32_array does for a Python int (0 gives one zero word).
func entropyWords(seed uint64) []uint32 {
	words := []uint32{uint32(seed)}
	for seed >>= 32; seed != 0; seed >>= 32 {
		words = append(words, uint32(seed))
	}
	return words
}

// seedPool runs SeedSequence.mix_entropy for the given entropy and returns the pool.
func seedPool(entropy []uint32) [poolSize]uint32 {
	var pool [poolSize]uint32
	hc := initA
	for i := range pool {
		var v uint32
		if i < len(entropy) {
			v = entropy[i]
		}
		pool[i] = hashmix(v, &hc)
	}
	for src := range pool {
		for dst := range pool {
			if src != dst {
				pool[dst] = mix(pool[dst], hashmix(pool[src], &hc))
			}
		}
	}
	for src := poolSize; src < len(entropy); src++ {
		for dst := range pool {
			pool[dst] = mix(pool[dst], hashmix(entropy[src], &hc))
		}
	}
	return pool
}

// generateState is SeedSequence.generate_state(n, np.uint64): 2n uint32 words drawn
// from the pool, paired little-endian into uint64s.
func generateState(pool [poolSize]uint32, n int) []uint64 {
	words := make([]uint32, 2*n)
	hc := initB
	for i := range words {
		v := pool[i%poolSize]
		v ^= hc
		hc *= multB
		v *= hc
		v ^= v >> xshift
		words[i] = v
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(words[2*i]) | uint64(words[2*i+1])<<32
	}
	return out
}

// PCG64 is NumPy's PCG64 bit generator: a 128-bit linear congruential generator with
// the XSL-RR output function. The zero value is not useful; use New.
type PCG64 struct {
	hi, lo       uint64 // state
	incHi, incLo uint64 // increment (always odd)
}

// PCG's default 128-bit multiplier, 2549297995355413924·2^64 + 4865540595714422341.
const (
	mulHi uint64 = 2549297995355413924
	mulLo uint64 = 4865540595714422341
)

// New returns the generator np.random.default_rng(seed) builds for a non-negative
// seed: SeedSequence(seed) hashed into a 128-bit state and increment.
func New(seed uint64) *PCG64 {
	st := generateState(seedPool(entropyWords(seed)), seedWords)
	g := &PCG64{}
	g.seed(st[0], st[1], st[2], st[3])
	return g
}

// seed is pcg_setseq_128_srandom_r with initstate = s0·2^64 + s1 and
// initseq = i0·2^64 + i1.
func (g *PCG64) seed(s0, s1, i0, i1 uint64) {
	g.incHi = i0<<1 | i1>>63
	g.incLo = i1<<1 | 1
	g.hi, g.lo = 0, 0
	g.step()
	var carry uint64
	g.lo, carry = bits.Add64(g.lo, s1, 0)
	g.hi, _ = bits.Add64(g.hi, s0, carry)
	g.step()
}

// step advances the state: state = state·mul + inc (mod 2^128).
func (g *PCG64) step() {
	hi, lo := bits.Mul64(g.lo, mulLo)
	hi += g.lo*mulHi + g.hi*mulLo
	var carry uint64
	g.lo, carry = bits.Add64(lo, g.incLo, 0)
	g.hi, _ = bits.Add64(hi, g.incHi, carry)
}

// Uint64 returns the next 64 random bits: step, then XSL-RR of the new state.
func (g *PCG64) Uint64() uint64 {
	g.step()
	return bits.RotateLeft64(g.hi^g.lo, -int(g.hi>>58))
}

// Float64 is NumPy's random_standard_uniform: the top 53 bits as a double in [0, 1).
func (g *PCG64) Float64() float64 {
	return float64(g.Uint64()>>11) * (1.0 / 9007199254740992.0)
}

// Uniform is Generator.uniform(low, high) for scalars: low + (high−low)·U.
func (g *PCG64) Uniform(low, high float64) float64 {
	return low + (high-low)*g.Float64()
}
