package nn

import (
	"fmt"
	"math/rand/v2"
)

// EmbeddingAdapter is a trainable addition to an Embedding's output, such as LoRA's
// scale·B·A·onehot(id) (PEFT's lora_embedding_A/B). The table calls it after its own
// lookup, so the adapter adds on top of the looked-up rows. It is the embedding's
// counterpart of Adapter: package lora extends a table without nn importing lora.
//
// ids has n entries and y, dy are (n, C). An id has no input gradient, so there is
// no dx.
type EmbeddingAdapter interface {
	// Forward adds the adapter's output for the ids to y. It may keep what its
	// Backward needs; ids stays valid until the matching Backward and must not be
	// modified.
	Forward(ids []int, y []float32)
	// Backward receives the gradient of the table's output dy and adds into the
	// adapter's own parameters' gradients (if trainable).
	Backward(ids []int, dy []float32)
}

// IDObserver sees the ids an Embedding looks up during Forward, as Observer sees a
// Linear layer's input rows: the one-hot rows a table multiplies are given by their
// ids. mask has len(ids) entries, true for a real row and false for a padding row;
// nil means every row is real. ids belongs to the caller: copy what you keep.
type IDObserver interface {
	ObserveIDs(ids []int, mask []bool)
}

// TrainMode is implemented by hooks (an Adapter, EmbeddingAdapter or Observer) that
// behave differently in training and in evaluation, such as LoRA's adapter dropout.
// A model's own SetTrain passes its mode on to every hook of its layers that
// implements it, so switching the model switches its adapters too.
type TrainMode interface {
	SetTrain(on bool)
}

// Embedding is a lookup table: row ids[i] of W becomes output row i. The Decision
// Transformer uses it for the timestep embedding and for discrete actions.
//
// Like Linear it has two optional hook points, nil unless a package plugs in:
// Adapter adds to the looked-up rows and takes part in Backward (LoRA on embedding
// layers), Observer is shown the ids with their padding mask (EVA's capture).
type Embedding struct {
	Name string
	N, C int    // table rows (vocabulary size) and channels
	W    *Param // (N, C), Name+".weight"
	// Adapter, when non-nil, adds to the output in Forward and takes part in Backward.
	Adapter EmbeddingAdapter
	// Observer, when non-nil, is shown the ids at every Forward.
	Observer IDObserver
}

// NewEmbedding allocates a zero table of n rows of c channels.
func NewEmbedding(name string, n, c int) *Embedding {
	return &Embedding{Name: name, N: n, C: c, W: NewParam(name+".weight", n, c)}
}

// Params returns the table (not the adapter's parameters).
func (e *Embedding) Params() []*Param { return []*Param{e.W} }

// InitNormal draws the table from N(0, std²) (PyTorch's nn.Embedding uses std 1,
// GPT-2 0.02).
func (e *Embedding) InitNormal(rng *rand.Rand, std float64) {
	for i := range e.W.Data {
		e.W.Data[i] = float32(rng.NormFloat64() * std)
	}
}

// Forward copies row ids[i] of the table into row i of y (len(ids), C), then lets
// the adapter add to it. mask (len(ids) entries or nil) tells the observer which
// rows are padding; it does not change the result. An id outside [0, N) is a caller
// bug (ids are validated where they enter, e.g. timesteps are clipped to the
// configured maximum episode length) and panics.
func (e *Embedding) Forward(ids []int, y []float32, mask []bool) {
	c := e.C
	if len(y) < len(ids)*c {
		panic(fmt.Sprintf("nn: %s: len(y)=%d < %d ids × %d", e.Name, len(y), len(ids), c))
	}
	if mask != nil && len(mask) < len(ids) {
		panic(fmt.Sprintf("nn: %s mask: len %d < %d ids", e.Name, len(mask), len(ids)))
	}
	for i, id := range ids {
		if id < 0 || id >= e.N {
			panic(fmt.Sprintf("nn: %s: id %d at %d outside [0, %d)", e.Name, id, i, e.N))
		}
	}
	if e.Observer != nil {
		var m []bool
		if mask != nil {
			m = mask[:len(ids)]
		}
		e.Observer.ObserveIDs(ids, m)
	}
	for i, id := range ids {
		copy(y[i*c:(i+1)*c], e.W.Data[id*c:(id+1)*c])
	}
	if e.Adapter != nil {
		e.Adapter.Forward(ids, y[:len(ids)*c])
	}
}

// Backward adds row i of dy into row ids[i] of W.Grad (nothing when frozen; a row
// looked up twice receives both gradients), then passes dy to the adapter.
func (e *Embedding) Backward(ids []int, dy []float32) {
	c := e.C
	if len(dy) < len(ids)*c {
		panic(fmt.Sprintf("nn: %s: len(dy)=%d < %d ids × %d", e.Name, len(dy), len(ids), c))
	}
	if e.W.Grad != nil {
		for i, id := range ids {
			g := e.W.Grad[id*c : (id+1)*c]
			for j, v := range dy[i*c : (i+1)*c] {
				g[j] += v
			}
		}
	}
	if e.Adapter != nil {
		e.Adapter.Backward(ids, dy[:len(ids)*c])
	}
}
