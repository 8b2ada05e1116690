package nn

import (
	"fmt"
	"math/rand/v2"
)

// Embedding is a lookup table: row ids[i] of W becomes output row i. The Decision
// Transformer uses it for the timestep embedding.
type Embedding struct {
	Name string
	N, C int    // table rows (vocabulary size) and channels
	W    *Param // (N, C), Name+".weight"
}

// NewEmbedding allocates a zero table of n rows of c channels.
func NewEmbedding(name string, n, c int) *Embedding {
	return &Embedding{Name: name, N: n, C: c, W: NewParam(name+".weight", n, c)}
}

// Params returns the table.
func (e *Embedding) Params() []*Param { return []*Param{e.W} }

// InitNormal draws the table from N(0, std²) (PyTorch's nn.Embedding uses std 1,
// GPT-2 0.02).
func (e *Embedding) InitNormal(rng *rand.Rand, std float64) {
	for i := range e.W.Data {
		e.W.Data[i] = float32(rng.NormFloat64() * std)
	}
}

// Forward copies row ids[i] of the table into row i of y (len(ids), C). An id outside
// [0, N) is a caller bug (ids are validated where they enter, e.g. timesteps are
// clipped to the configured maximum episode length) and panics.
func (e *Embedding) Forward(ids []int, y []float32) {
	c := e.C
	if len(y) < len(ids)*c {
		panic(fmt.Sprintf("nn: %s: len(y)=%d < %d ids × %d", e.Name, len(y), len(ids), c))
	}
	for i, id := range ids {
		if id < 0 || id >= e.N {
			panic(fmt.Sprintf("nn: %s: id %d at %d outside [0, %d)", e.Name, id, i, e.N))
		}
		copy(y[i*c:(i+1)*c], e.W.Data[id*c:(id+1)*c])
	}
}

// Backward adds row i of dy into row ids[i] of W.Grad (nothing when frozen); a row
// looked up twice receives both gradients.
func (e *Embedding) Backward(ids []int, dy []float32) {
	if e.W.Grad == nil {
		return
	}
	c := e.C
	for i, id := range ids {
		g := e.W.Grad[id*c : (id+1)*c]
		for j, v := range dy[i*c : (i+1)*c] {
			g[j] += v
		}
	}
}
