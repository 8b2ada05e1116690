package policy

import (
	"math/rand/v2"
	"runtime"

	"github.com/evarl/evarl/nn"
)

// Two-lane data parallelism. A batch of B ≥ 2 windows is split in two: lane 0 (the
// model's own layers) runs windows [0, B₀), the shadow lane runs [B₀, B) on another
// goroutine. The shadow's layers share every weight with lane 0 (same Data slices) but
// have their own saved activations (LayerNorm statistics, attention probabilities,
// dropout masks) and their own gradient buffers, added into the real gradients after
// Backward. Every buffer of the model is laid out window by window, so each lane works
// on a contiguous sub-slice and the lanes never write the same memory.
//
// The split depends only on B, never on the number of cores (with one core the lanes
// run one after the other), so results do not depend on the machine. The shadow lane
// has its own dropout generator, drawn from the model's at construction.
//
// Adapters and observers attach to lane 0's layers only, and keep per-call state. An
// adapter on a Linear layer that implements nn.AdapterForker gets a fork on the
// shadow lane's copy of its layer (made when it is first seen, with its own gradient
// buffers, reduced like the weights'); while any Linear has an observer or an
// adapter that cannot fork, or any Embedding has a hook, the whole batch runs on
// lane 0.

// shadowParam pairs a real parameter with the shadow lane's view of it.
type shadowParam struct{ real, shadow *nn.Param }

// laneFork is the shadow lane's fork of the adapter on one of lane 0's Linear layers.
type laneFork struct {
	from  nn.Adapter     // lane 0's adapter the fork was made from (nil: none)
	fork  nn.AdapterFork // the shadow lane's
	pairs []shadowParam  // its parameters and the fork's views of them
}

// buildShadow creates the shadow lane from the model's layers; rng drives its
// dropout.
func (m *Model) buildShadow(rng *rand.Rand) {
	params := map[*nn.Param]*nn.Param{}
	twins := map[*nn.Linear]*nn.Linear{}
	sp := func(p *nn.Param) *nn.Param {
		if p == nil {
			return nil
		}
		if q, ok := params[p]; ok {
			return q
		}
		q := &nn.Param{Name: p.Name, Shape: p.Shape, Data: p.Data}
		params[p] = q
		m.pairs = append(m.pairs, shadowParam{p, q})
		return q
	}
	lin := func(l *nn.Linear) *nn.Linear {
		if l == nil {
			return nil
		}
		t := &nn.Linear{Name: l.Name, In: l.In, Out: l.Out, W: sp(l.W), B: sp(l.B), Gemm: l.Gemm}
		twins[l] = t
		return t
	}
	emb := func(e *nn.Embedding) *nn.Embedding {
		if e == nil {
			return nil
		}
		return &nn.Embedding{Name: e.Name, N: e.N, C: e.C, W: sp(e.W)}
	}
	ln := func(l *nn.LayerNorm) *nn.LayerNorm {
		return &nn.LayerNorm{Name: l.Name, C: l.C, Eps: l.Eps, W: sp(l.W), B: sp(l.B)}
	}
	drop := func() *nn.Dropout {
		d := nn.NewDropout(float32(m.cfg.Dropout), rng)
		m.dropouts = append(m.dropouts, d)
		return d
	}
	s := &lane{
		embedReturn: lin(m.embedReturn), embedState: lin(m.embedState), embedAction: lin(m.embedAction),
		embedActIdx: emb(m.embedActIdx), embedTime: emb(m.embedTime), embedLN: ln(m.embedLN), embedDrop: drop(),
		lnF: ln(m.lnF), head: lin(m.head),
	}
	for _, b := range m.blocks {
		a := b.attn
		s.blocks = append(s.blocks, &block{
			ln1: ln(b.ln1), ln2: ln(b.ln2),
			attn: &nn.Attention{Name: a.Name, C: a.C, NHead: a.NHead, Gemm: a.Gemm,
				Q: lin(a.Q), K: lin(a.K), V: lin(a.V), O: lin(a.O)},
			fc: lin(b.fc), proj: lin(b.proj), attnDrop: drop(), mlpDrop: drop(),
		})
	}
	m.shadow = s
	m.shadowLinears = make([]*nn.Linear, len(m.linears))
	for i, l := range m.linears {
		m.shadowLinears[i] = twins[l]
	}
	m.forks = make([]laneFork, len(m.linears))
}

// useShadow reports whether a batch of b windows runs on two lanes, and if so
// brings the shadow lane in line with lane 0: adapter forks for the adapters attached
// now, synced (nn.AdapterFork), and for every parameter the same Data (in case a
// slice was replaced) and, with grads, a gradient buffer exactly when the real one
// is trainable (acting needs none).
func (m *Model) useShadow(b int, grads bool) bool {
	if b < 2 || m.oneLane {
		return false
	}
	for _, e := range m.tables {
		if e.Adapter != nil || e.Observer != nil {
			return false
		}
	}
	for _, l := range m.linears {
		if l.Observer != nil {
			return false
		}
		if l.Adapter != nil {
			if _, ok := l.Adapter.(nn.AdapterForker); !ok {
				return false
			}
		}
	}
	for i, l := range m.linears {
		m.syncFork(i, l)
		if f := m.forks[i].fork; f != nil {
			f.Sync()
		}
	}
	for _, e := range m.tables {
		if e.Adapter != nil || e.Observer != nil {
			return false
		}
	}
	for _, p := range m.pairs {
		p.sync(grads)
	}
	for _, f := range m.forks {
		for _, p := range f.pairs {
			p.sync(grads)
		}
	}
	return true
}

// syncFork gives the shadow copy of m.linears[i] a fork of l's adapter, unless it
// has one of that adapter already.
func (m *Model) syncFork(i int, l *nn.Linear) {
	f, twin := &m.forks[i], m.shadowLinears[i]
	if l.Adapter == f.from {
		return
	}
	f.from, f.fork, f.pairs, twin.Adapter = l.Adapter, nil, nil, nil
	if l.Adapter == nil {
		return
	}
	param := func(p *nn.Param) *nn.Param {
		q := &nn.Param{Name: p.Name, Shape: p.Shape, Data: p.Data}
		f.pairs = append(f.pairs, shadowParam{p, q})
		return q
	}
	f.fork = l.Adapter.(nn.AdapterForker).Fork(twin, param)
	twin.Adapter = f.fork
}

// sync gives the shadow view the real parameter's Data and, with grads (a pass
// that Backward may follow), a gradient buffer exactly when the real one has one.
func (p shadowParam) sync(grads bool) {
	p.shadow.Data = p.real.Data
	switch {
	case p.real.Grad == nil:
		p.shadow.Grad = nil
	case grads && p.shadow.Grad == nil:
		p.shadow.Grad = make([]float32, len(p.real.Data))
	}
}

// reduceShadow adds the shadow lane's gradients into the real ones.
func (m *Model) reduceShadow() {
	for _, p := range m.pairs {
		p.reduce()
	}
	for _, f := range m.forks {
		for _, p := range f.pairs {
			p.reduce()
		}
	}
}

func (p shadowParam) reduce() {
	if p.real.Grad == nil {
		return
	}
	for i, g := range p.shadow.Grad {
		p.real.Grad[i] += g
	}
}

// zeroShadow clears the shadow lane's gradients before its Backward.
func (m *Model) zeroShadow() {
	for _, p := range m.pairs {
		clear(p.shadow.Grad)
	}
	for _, f := range m.forks {
		for _, p := range f.pairs {
			clear(p.shadow.Grad)
		}
	}
}

// pass names what a lane runs.
type pass int

const (
	passForward  pass = iota // lane.forward
	passBackward             // lane.backward
	passAct                  // lane.act
)

// job is one lane's share of a pass.
type job struct {
	m      *Model
	pass   pass
	w0, w1 int // windows
}

func (j job) run() {
	nn.OccupyCore()
	j.m.shadow.run(j.m, j.pass, j.w0, j.w1)
	nn.ReleaseCore()
}

// run runs pass p of this lane over windows [w0, w1).
func (ln *lane) run(m *Model, p pass, w0, w1 int) {
	switch p {
	case passForward:
		ln.forward(m, w0, w1)
	case passBackward:
		ln.backward(m, w0, w1)
	case passAct:
		ln.act(m, w0, w1)
	}
}

// worker is a goroutine that runs the shadow lane's jobs, so that a step starts no
// goroutine (and allocates nothing). It ends when the Model is garbage collected.
type worker struct {
	jobs chan job
	done chan struct{}
}

func startWorker() *worker {
	w := &worker{jobs: make(chan job), done: make(chan struct{})}
	go func(jobs <-chan job, done chan<- struct{}) {
		for j := range jobs {
			j.run()
			j = job{} // drop the reference to the model between jobs
			done <- struct{}{}
		}
	}(w.jobs, w.done)
	return w
}

// runLanes runs the shadow's part (windows [split, b)) and lane 0's part ([0, split))
// of pass p at the same time when the machine has a second core, one after the other
// otherwise.
func (m *Model) runLanes(p pass, split, b int) {
	j := job{m: m, pass: p, w0: split, w1: b}
	parallel := runtime.GOMAXPROCS(0) >= 2
	if !parallel {
		j.run()
	} else {
		if m.work == nil {
			m.work = startWorker()
			runtime.AddCleanup(m, func(jobs chan job) { close(jobs) }, m.work.jobs)
		}
		m.work.jobs <- j
	}
	if parallel {
		nn.OccupyCore()
	}
	m.lane.run(m, p, 0, split)
	if parallel {
		nn.ReleaseCore()
		<-m.work.done
	}
}
