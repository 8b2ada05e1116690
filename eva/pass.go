package eva

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/evarl/evarl/nn"
	"github.com/sirupsen/logrus"
)

// Layer names one target layer of the pass and its nominal LoRA rank.
type Layer struct {
	// Name is the layer's name in the model, e.g. "blocks.0.attn.q".
	Name string
	// Rank is the layer's nominal LoRA rank r (the config's r or its rank pattern).
	Rank int
	// DIn is the width of the layer's input (the columns of its activation rows).
	DIn int
}

// Rows is one minibatch of a layer's input: N rows of D float32 values, row-major,
// padding rows already dropped.
type Rows struct {
	Data []float32
	N, D int
}

// Pass is one EVA computation: a streaming PCA (Config.PCA: exact or incremental)
// per distinct layer input, fed one minibatch at a time, with ranks redistributed after every minibatch and layers
// dropping out as they converge. It does not know about models: a capture (see
// capture.go) or a test hands it the rows.
type Pass struct {
	cfg     Config
	layers  []Layer
	log     logrus.FieldLogger
	seed    uint64
	kernels nn.Float64Kernels

	grouped bool
	owner   []int       // owner[i]: the layer whose PCA layer i uses (i for owners)
	nComp   []int       // round(r_i·rho)
	fits    []estimator // per owner, nil for shared layers: the PCA method of Config.PCA
	pcas    []*Estimate // fits[o]'s estimate
	prev    [][]float64 // per owner: the components before the last update
	conv    [][]bool
	ranks   []int
	used    []int // minibatches folded into each owner's PCA
	skipped []int // minibatches an owner skipped for having too few rows
	done    []bool
	batches int
}

// estimator is a PCA method: IPCA or ExactPCA.
type estimator interface {
	PartialFit(x []float32, n int) (bool, error)
	Fitted() bool
	estimate() *Estimate
}

// Options are what a pass needs besides its config: where its random streams start
// and where it logs.
type Options struct {
	// Seed starts the random streams of the pass: with svd: lowrank, each owner
	// layer's randomized SVD draws from its own PCG stream of Seed. Derive it from
	// the run's seed. (The exact PCA draws nothing that changes its result.)
	Seed uint64
	// Log receives a line as each layer converges and a summary (nil: no logging).
	Log logrus.FieldLogger
	// Kernels compute the exact PCA's scatter updates and eigenvectors; nil uses
	// gonum's. Compute takes them from the model's backend (nn.Float64KernelsOf)
	// when this is nil, so a model on OpenBLAS has its PCA on OpenBLAS too.
	Kernels nn.Float64Kernels
	// Sequential makes Compute run each minibatch's forward pass only after the
	// previous minibatch's PCA updates instead of overlapping them on
	// another goroutine, which it otherwise does when GOMAXPROCS ≥ 2. The state is
	// the same either way; set it when forward must not be called for a minibatch
	// the pass will not use (the overlap may read one more) or must run on the
	// caller's goroutine, or to measure the overlap.
	Sequential bool
}

// NewPass checks the config and the layers and returns a pass ready for its first
// minibatch.
func NewPass(cfg Config, layers []Layer, opt Options) (*Pass, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, errors.New("eva: no target layers")
	}
	log := opt.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	p := &Pass{cfg: cfg, layers: append([]Layer(nil), layers...), log: log, seed: opt.Seed, kernels: opt.Kernels}
	seen := map[string]bool{}
	for i, l := range layers {
		if seen[l.Name] {
			return nil, fmt.Errorf("eva: layer %q listed twice", l.Name)
		}
		seen[l.Name] = true
		if l.Rank <= 0 {
			return nil, fmt.Errorf("eva: layer %q: r = %d: want > 0", l.Name, l.Rank)
		}
		if l.DIn <= 0 {
			return nil, fmt.Errorf("eva: layer %q: input width %d: want > 0", l.Name, l.DIn)
		}
		// A layer narrower than round(r·rho) — the return embedding reads one number —
		// has no more principal directions than its width: it offers that many, and
		// redistribution gives the rest of its budget to other layers.
		k := min(cfg.MaxComponents(l.Rank), l.DIn)
		p.nComp = append(p.nComp, k)
		p.owner = append(p.owner, i)
		p.ranks = append(p.ranks, k) // as PEFT: every layer starts at its maximum
	}
	n := len(layers)
	p.fits = make([]estimator, n)
	p.pcas = make([]*Estimate, n)
	p.prev = make([][]float64, n)
	p.conv = make([][]bool, n)
	p.used = make([]int, n)
	p.skipped = make([]int, n)
	p.done = make([]bool, n)
	return p, nil
}

// Layers returns the target layers in the order Step expects their rows.
func (p *Pass) Layers() []Layer { return p.layers }

// Batches is the number of minibatches consumed so far.
func (p *Pass) Batches() int { return p.batches }

// Wants reports, per layer, whether the next Step needs its rows: every layer on the
// first minibatch (to detect shared inputs), afterwards the owners of PCAs that have
// not converged. A capture may skip copying the others.
func (p *Pass) Wants() []bool {
	w := make([]bool, len(p.layers))
	for i := range w {
		w[i] = !p.grouped || (p.owner[i] == i && !p.converged(i))
	}
	return w
}

// needed is the number of leading components of owner o that must converge: the
// largest rank in its group.
func (p *Pass) needed(o int) int {
	r := 0
	for i, oi := range p.owner {
		if oi == o {
			r = max(r, p.ranks[i])
		}
	}
	return r
}

// converged reports whether layer i's PCA has converged for the rank it now holds.
func (p *Pass) converged(i int) bool {
	o := p.owner[i]
	need := p.needed(o)
	if need == 0 {
		return true
	}
	c := p.conv[o]
	if c == nil {
		return false
	}
	for _, ok := range c[:need] {
		if !ok {
			return false
		}
	}
	return true
}

// Done reports whether every layer has converged for its current rank.
func (p *Pass) Done() bool {
	if p.batches == 0 {
		return false
	}
	for i := range p.layers {
		if !p.converged(i) {
			return false
		}
	}
	return true
}

// Step folds one minibatch into the pass. rows[i] is layer i's input (see Layers);
// layers Wants marks false may be left empty. On the first minibatch, layers with
// exactly equal rows are grouped: the first owns the PCA, the others use it. The
// PCAs update concurrently. An error (non-finite activations) leaves the pass
// unusable.
func (p *Pass) Step(rows []Rows) error {
	if err := p.prepare(rows); err != nil {
		return err
	}
	return p.update(rows)
}

// update is Step after prepare.
func (p *Pass) update(rows []Rows) error {
	want := p.Wants()
	// The PCAs are independent: update them on up to GOMAXPROCS goroutines, widest
	// inputs first, then record the results in layer order.
	type result struct {
		prev   []float64
		fitted bool
		err    error
	}
	var work []int
	for o, f := range p.fits {
		if f != nil && want[o] {
			work = append(work, o)
		}
	}
	sort.SliceStable(work, func(a, b int) bool {
		return rows[work[a]].N*rows[work[a]].D > rows[work[b]].N*rows[work[b]].D
	})
	results := make([]result, len(p.pcas))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(work)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				f, r := p.fits[o], &results[o]
				if f.Fitted() {
					p.prev[o] = append(p.prev[o][:0], p.pcas[o].Components...)
					r.prev = p.prev[o]
				}
				r.fitted, r.err = f.PartialFit(rows[o].Data, rows[o].N)
			}
		}()
	}
	for _, o := range work {
		next <- o
	}
	close(next)
	wg.Wait()
	slices.Sort(work)
	for _, o := range work {
		pca, r := p.pcas[o], results[o]
		if r.err != nil {
			return fmt.Errorf("eva: layer %q, minibatch %d: %w", p.layers[o].Name, p.batches+1, r.err)
		}
		if !r.fitted {
			p.skipped[o]++
			p.log.WithFields(logrus.Fields{"layer": p.layers[o].Name, "rows": rows[o].N, "components": pca.K}).
				Debug("eva: minibatch skipped: fewer rows than components")
			continue
		}
		p.used[o]++
		if r.prev == nil {
			continue // after the first update nothing is converged
		}
		for j := range p.conv[o] {
			p.conv[o][j] = cosine(pca.Components[j*pca.D:(j+1)*pca.D], r.prev[j*pca.D:(j+1)*pca.D]) >= p.cfg.Tau
		}
	}
	p.batches++
	if p.allFitted() {
		ratios := make([][]float64, len(p.layers))
		for i, o := range p.owner {
			ratios[i] = p.pcas[o].ExplainedVarianceRatio
		}
		p.ranks = redistribute(ratios, p.nComp, p.budget(), p.owner)
	}
	nConv := 0
	for i, l := range p.layers {
		c := p.converged(i)
		if c {
			nConv++
		}
		if c && !p.done[i] {
			p.log.WithFields(logrus.Fields{"layer": l.Name, "rank": p.ranks[i], "minibatch": p.batches}).Info("eva: layer converged")
		}
		p.done[i] = c
	}
	p.log.WithFields(logrus.Fields{"minibatch": p.batches, "converged": nConv, "layers": len(p.layers)}).Debug("eva: minibatch done")
	return nil
}

// prepare checks the rows of the next minibatch against Wants and, on the first
// minibatch, groups the layers with equal inputs.
func (p *Pass) prepare(rows []Rows) error {
	if len(rows) != len(p.layers) {
		return fmt.Errorf("eva: step with rows for %d layers; the pass has %d", len(rows), len(p.layers))
	}
	want := p.Wants()
	for i, r := range rows {
		if !want[i] {
			continue
		}
		l := p.layers[i]
		if r.D != l.DIn || len(r.Data) != r.N*r.D {
			return fmt.Errorf("eva: layer %q: %d values as %d rows of %d; want rows of %d", l.Name, len(r.Data), r.N, r.D, l.DIn)
		}
	}
	if !p.grouped {
		p.group(rows)
	}
	return nil
}

// group detects layers with exactly equal inputs and creates one PCA per owner.
func (p *Pass) group(rows []Rows) {
	for i := range p.layers {
		for j := 0; j < i; j++ {
			if p.owner[j] == j && equalRows(rows[i], rows[j]) {
				p.owner[i] = j
				break
			}
		}
	}
	for o := range p.layers {
		if p.owner[o] != o {
			continue
		}
		k := 0
		for i, oi := range p.owner {
			if oi == o {
				k = max(k, p.nComp[i])
			}
		}
		d := p.layers[o].DIn
		if p.cfg.PCA == PCAExact {
			e := NewExactPCA(k, d)
			e.Kernels = p.kernels
			p.fits[o] = e
		} else {
			ipca := NewIPCA(k, d)
			if p.cfg.SVD == SVDLowRank {
				ipca.LowRankQ = 2 * k
				ipca.Rng = rand.New(rand.NewPCG(p.seed, 0x6576610000+uint64(o)))
			}
			p.fits[o] = ipca
		}
		p.pcas[o] = p.fits[o].estimate()
		p.conv[o] = make([]bool, k)
	}
	p.grouped = true
}

func equalRows(a, b Rows) bool {
	if a.N != b.N || a.D != b.D {
		return false
	}
	for i, v := range a.Data {
		if math.Float32bits(v) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

func (p *Pass) allFitted() bool {
	for _, f := range p.fits {
		if f != nil && !f.Fitted() {
			return false
		}
	}
	return true
}

func (p *Pass) budget() int {
	b := 0
	for _, l := range p.layers {
		b += l.Rank
	}
	return b
}

func cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// unconverged lists the layers that have not converged, with how far they got.
func (p *Pass) unconverged() []string {
	var out []string
	for i, l := range p.layers {
		if p.converged(i) {
			continue
		}
		o := p.owner[i]
		n := 0
		for _, ok := range p.conv[o][:p.needed(o)] {
			if ok {
				n++
			}
		}
		out = append(out, fmt.Sprintf("%s (%d/%d components converged)", l.Name, n, p.needed(o)))
	}
	return out
}

// Run feeds minibatches from next until every layer converges and returns the
// state. next receives Wants() and returns the rows of the next minibatch, or io.EOF
// when the source is exhausted. When Config.MaxBatches minibatches (or the whole
// source) did not suffice, Run fails naming the layers that did not converge,
// unless Config.AcceptUnconverged is set.
func (p *Pass) Run(ctx context.Context, next func(want []bool) ([]Rows, error)) (*State, error) {
	return p.run(ctx, func(want []bool, _ int) ([]Rows, error) { return next(want) }, func(int) {}, false)
}

// fetchFunc is what run reads minibatches with: it runs the forward pass of the
// next minibatch, copying the inputs of the layers capture marks into buffer slot
// (0 or 1), and returns them as Step expects them (the others empty), or io.EOF
// when the source is exhausted. With the look-ahead it runs on another goroutine
// while Step works on the rows of the other slot, so the two slots must not share
// memory.
type fetchFunc func(capture []bool, slot int) ([]Rows, error)

// run is Run's loop. commit(slot) is called when the rows in slot are handed to
// Step, so a caller that accumulates per-minibatch statistics besides the rows (the
// id counts of embedding tables) keeps only those of minibatches the pass used.
//
// With ahead, the forward pass of the next minibatch overlaps the PCA updates of
// the current one: on two cores the model and the eigensolvers no longer wait for
// each other. The result is the same as without, minibatch for minibatch, because
// the minibatches are the same and fold in in the same order; the only difference
// is that the source may be read once more than the pass uses (the look-ahead
// started before the last minibatch turned out to be the last). The look-ahead
// captures every PCA's input that may be wanted next, converged or not: a
// redistribution of ranks after the current minibatch can make a converged layer
// want rows again, and the look-ahead cannot know that when it starts. Only owners
// whose every component has converged are left out; they never want rows again
// (their flags change only when they are updated, and no rank exceeds their
// components). The look-ahead's fetch runs on another goroutine; a panic there is
// raised again on the caller's, after the forward pass has ended, as is one of
// Step. A context cancelled by fetch itself stops the pass one minibatch earlier
// than without the look-ahead, without folding in the minibatch in flight.
func (p *Pass) run(ctx context.Context, fetch fetchFunc, commit func(slot int), ahead bool) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eva: stopped after %d minibatches: %w", p.batches, err)
	}
	slot := 0
	rows, err := fetch(p.Wants(), slot)
	if errors.Is(err, io.EOF) {
		return nil, errors.New("eva: the data source gave no minibatches")
	}
	if err != nil {
		return nil, fmt.Errorf("eva: minibatch 1: %w", err)
	}
	type fetched struct {
		rows     []Rows
		err      error
		panicked any // a panic of fetch, raised again on this goroutine
	}
	// pending is the look-ahead in flight. Whatever ends this function, a panic of
	// Step included, waits for it first: the forward pass uses the model, which
	// the caller unhooks and reuses once this returns.
	var pending chan fetched
	defer func() {
		if pending != nil {
			<-pending
		}
	}()
	for {
		if err := p.prepare(rows); err != nil {
			return nil, err
		}
		commit(slot)
		more := p.batches+1 < p.cfg.MaxBatches
		if ahead && more {
			capture := make([]bool, len(p.layers))
			for i, o := range p.owner {
				capture[i] = o == i && slices.Contains(p.conv[o], false)
			}
			pending = make(chan fetched, 1)
			go func(out chan<- fetched, slot int) {
				defer func() {
					if r := recover(); r != nil {
						out <- fetched{panicked: r}
					}
				}()
				r, err := fetch(capture, slot)
				out <- fetched{rows: r, err: err}
			}(pending, 1-slot)
		}
		err := p.update(rows)
		var next fetched
		if pending != nil {
			next, pending = <-pending, nil
			if next.panicked != nil {
				panic(next.panicked)
			}
		}
		switch {
		case err != nil:
			return nil, err
		case p.Done():
			return p.State()
		case ctx.Err() != nil:
			return nil, fmt.Errorf("eva: stopped after %d minibatches: %w", p.batches, ctx.Err())
		case !more:
			return p.finishUnconverged(fmt.Sprintf("max_batches = %d minibatches consumed", p.cfg.MaxBatches))
		}
		if !ahead {
			next.rows, next.err = fetch(p.Wants(), 1-slot)
		}
		switch {
		case errors.Is(next.err, io.EOF):
			return p.finishUnconverged(fmt.Sprintf("the data source ended after %d minibatches", p.batches))
		case next.err != nil:
			return nil, fmt.Errorf("eva: minibatch %d: %w", p.batches+1, next.err)
		}
		rows, slot = next.rows, 1-slot
	}
}

func (p *Pass) finishUnconverged(why string) (*State, error) {
	bad := p.unconverged()
	if !p.allFitted() {
		hint := ""
		if p.cfg.LabelMask == LabelMaskLossTokens {
			hint = "; label_mask = loss_tokens keeps only the rows at the tokens where the loss is read, so a layer that sees only other tokens (the return or action embedding) gets none: use loss_paths, or leave such layers out of target_modules"
		}
		return nil, fmt.Errorf("eva: %s and some layers never had a minibatch with as many rows as components: %s%s", why, strings.Join(bad, ", "), hint)
	}
	if !p.cfg.AcceptUnconverged {
		return nil, fmt.Errorf("eva: %s before these layers converged at tau = %v: %s; raise max_batches, lower tau, or set accept_unconverged",
			why, p.cfg.Tau, strings.Join(bad, ", "))
	}
	p.log.WithFields(logrus.Fields{"layers": strings.Join(bad, ", ")}).Warn("eva: " + why + "; using unconverged components")
	return p.State()
}
