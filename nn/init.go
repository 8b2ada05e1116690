package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Parameter initialisers. Each draws from the caller's seeded generator, in order
// of the slice, so the same seed gives the same weights on every machine.

// InitNormal fills x with draws from N(0, std²), e.g. GPT-2's std 0.02 for linear
// and embedding weights.
func InitNormal(rng *rand.Rand, x []float32, std float64) {
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
}

// InitUniform fills x with draws from U(−bound, bound).
func InitUniform(rng *rand.Rand, x []float32, bound float64) {
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// KaimingUniformBound is the bound of torch.nn.init.kaiming_uniform_ with leaky-ReLU
// slope a and fan-in fanIn: gain·√(3/fanIn) with gain = √(2/(1+a²)). With a = √5 —
// the value nn.Linear and PEFT's LoRA A use — it is 1/√fanIn.
func KaimingUniformBound(fanIn int, a float64) float64 {
	if fanIn <= 0 {
		panic(fmt.Sprintf("nn: KaimingUniformBound: fan-in %d, want > 0", fanIn))
	}
	gain := math.Sqrt(2 / (1 + a*a))
	return gain * math.Sqrt(3/float64(fanIn))
}

// InitKaimingUniform fills x as torch.nn.init.kaiming_uniform_(x, a) does for a
// weight with fan-in fanIn (the number of inputs, In for a (Out, In) matrix).
func InitKaimingUniform(rng *rand.Rand, x []float32, fanIn int, a float64) {
	InitUniform(rng, x, KaimingUniformBound(fanIn, a))
}
