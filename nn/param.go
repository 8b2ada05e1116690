package nn

import (
	"fmt"
	"sort"
)

// Param is one named parameter tensor. Data is row-major with the given Shape. Grad is
// nil when the parameter is frozen: frozen parameters cost no gradient memory and no
// optimizer state, which is what makes adapter fine-tuning cheap.
type Param struct {
	// Name addresses the parameter, e.g. "blocks.0.attn.q.weight".
	Name string
	// Shape is the tensor's shape, e.g. (out, in) for a linear weight.
	Shape []int
	// Data holds the values, len = product of Shape.
	Data []float32
	// Grad holds the accumulated gradient while trainable, nil while frozen.
	Grad []float32
}

// NewParam allocates a zero parameter of the given shape, trainable.
func NewParam(name string, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		if s <= 0 {
			panic(fmt.Sprintf("nn: param %s: shape %v has a non-positive dimension", name, shape))
		}
		n *= s
	}
	return &Param{Name: name, Shape: append([]int(nil), shape...), Data: make([]float32, n), Grad: make([]float32, n)}
}

// Size is the number of elements.
func (p *Param) Size() int { return len(p.Data) }

// Trainable reports whether the parameter receives gradients.
func (p *Param) Trainable() bool { return p.Grad != nil }

// SetTrainable freezes (drops the gradient buffer) or unfreezes (allocates a zero
// one) the parameter.
func (p *Param) SetTrainable(on bool) {
	switch {
	case on && p.Grad == nil:
		p.Grad = make([]float32, len(p.Data))
	case !on:
		p.Grad = nil
	}
}

// ZeroGrad clears the gradient (no-op when frozen).
func (p *Param) ZeroGrad() { clear(p.Grad) }

// Params is an ordered set of parameters, addressable by name. Order is the order of
// registration, which fixes the layout of checkpoints and optimizer state.
type Params struct {
	list   []*Param
	byName map[string]*Param
}

// Add registers parameters; a duplicate name is a programming error and panics.
func (ps *Params) Add(p ...*Param) {
	if ps.byName == nil {
		ps.byName = map[string]*Param{}
	}
	for _, q := range p {
		if _, dup := ps.byName[q.Name]; dup {
			panic("nn: duplicate parameter name " + q.Name)
		}
		ps.byName[q.Name] = q
		ps.list = append(ps.list, q)
	}
}

// All returns the parameters in registration order (the slice must not be modified).
func (ps *Params) All() []*Param { return ps.list }

// Get returns the parameter with the given name.
func (ps *Params) Get(name string) (*Param, bool) {
	p, ok := ps.byName[name]
	return p, ok
}

// Names returns all parameter names, sorted.
func (ps *Params) Names() []string {
	out := make([]string, len(ps.list))
	for i, p := range ps.list {
		out[i] = p.Name
	}
	sort.Strings(out)
	return out
}

// Trainable returns the trainable parameters in registration order.
func (ps *Params) Trainable() []*Param {
	var out []*Param
	for _, p := range ps.list {
		if p.Trainable() {
			out = append(out, p)
		}
	}
	return out
}

// Count returns the number of elements in all parameters and in trainable ones.
func (ps *Params) Count() (total, trainable int) {
	for _, p := range ps.list {
		total += p.Size()
		if p.Trainable() {
			trainable += p.Size()
		}
	}
	return total, trainable
}

// ZeroGrad clears every trainable parameter's gradient.
func (ps *Params) ZeroGrad() {
	for _, p := range ps.list {
		p.ZeroGrad()
	}
}
