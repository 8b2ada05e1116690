package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Work sharing for the kernels: one pool of worker goroutines for the process, one
// per CPU but the caller's (GOMAXPROCS at first use), fed three kinds of job: a share
// of a matrix product (Linear splits its products by rows of the result), a range of
// items of a rangeRunner (Attention's independent (batch, head) pairs) and a block of
// an elementwise kernel (GELU). Each share writes its own part of the output, so
// results do not depend on scheduling. Jobs travel as plain values and their
// completion records are recycled, so a training step allocates nothing.
//
// A caller runs the first share itself and, while it waits for the rest, runs queued
// jobs (its own or another caller's). So when the model already keeps every core busy
// with goroutines of its own (as the policy's data-parallel lanes do), a caller never
// sits idle behind a queue, and since no job waits on another, the pool cannot
// deadlock.
//
// Results do not depend on the machine either. Splitting a range of heads or of
// elements changes no arithmetic, so those follow the worker count. Splitting a
// product does: OpenBLAS's last bits change with the row blocks it is given
// (measured: a 3840×128×128 product cut in three differs from the whole in 26k of
// its 491k entries). So products are always cut in the same GemmShares blocks, run
// one after another when there is a single CPU.

// ParallelMinMACs is the size (multiply-adds m·n·k) from which Linear splits a product
// across the workers: below it the hand-over costs more than it saves.
const ParallelMinMACs = 1 << 18

// GemmShares is the fixed number of row blocks a large product is cut into (see
// above: fixed so that results do not depend on the number of cores).
const GemmShares = 2

// ParallelMinElems is the length from which elementwise kernels (GELU) split their
// work across the workers.
const ParallelMinElems = 1 << 15

// rangeRunner runs items [lo, hi) of the work currently set up on it.
type rangeRunner interface {
	runRange(lo, hi int)
}

// gemmArgs are the arguments of one Sgemm call.
type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

func (ga *gemmArgs) run(g Gemm) {
	g.Sgemm(ga.transA, ga.transB, ga.m, ga.n, ga.k, ga.alpha, ga.a, ga.lda, ga.b, ga.ldb, ga.beta, ga.c, ga.ldc)
}

// poolJob is one share of a call: a range job when r is set, an elementwise block
// when ew is set, else a product share.
type poolJob struct {
	r          rangeRunner
	lo, hi     int
	ew         func(x, y, z, w []float32)
	x, y, z, w []float32
	g          Gemm
	ga         gemmArgs
	call       *poolCall
}

func (j *poolJob) run() {
	switch {
	case j.r != nil:
		j.r.runRange(j.lo, j.hi)
	case j.ew != nil:
		j.ew(j.x, j.y, j.z, j.w)
	default:
		j.ga.run(j.g)
	}
	if j.call.pending.Add(-1) == 0 {
		j.call.done <- struct{}{}
	}
}

// poolCall tracks the shares of one call handed to the pool.
type poolCall struct {
	pending atomic.Int32
	done    chan struct{} // receives once, when pending reaches 0
}

var pool struct {
	once    sync.Once
	workers int
	jobs    chan poolJob
	calls   chan *poolCall // free list
}

func startPool() {
	pool.workers = runtime.GOMAXPROCS(0)
	pool.jobs = make(chan poolJob, 4*pool.workers)
	pool.calls = make(chan *poolCall, 64)
	for i := 1; i < pool.workers; i++ {
		go func() {
			for j := range pool.jobs {
				j.run()
			}
		}()
	}
}

// occupied counts the goroutines that have said (OccupyCore) they keep a core busy
// with work of their own.
var occupied atomic.Int32

// OccupyCore tells the worker pool that the calling goroutine keeps a core busy with
// independent work until it calls ReleaseCore: a model's data-parallel lane does,
// for the duration of its pass. While every core is occupied, kernels run all their
// shares on the calling goroutine instead of handing them to workers that would
// only compete for the same cores. The shares are the same either way, so results
// do not change.
func OccupyCore() { occupied.Add(1) }

// ReleaseCore ends an OccupyCore.
func ReleaseCore() { occupied.Add(-1) }

// shares returns how many parts to split n items into (1: run inline).
func shares(n int) int {
	pool.once.Do(startPool)
	if int(occupied.Load()) >= pool.workers {
		return 1
	}
	return min(pool.workers, n)
}

// newCall returns a recycled completion record for n shares, allocating only while
// more callers run at once than ever before.
func newCall(n int) *poolCall {
	var c *poolCall
	select {
	case c = <-pool.calls:
	default:
		c = &poolCall{done: make(chan struct{}, 1)}
	}
	c.pending.Store(int32(n))
	return c
}

// wait runs queued jobs until c's shares are all done, then recycles c.
func (c *poolCall) wait() {
	for {
		select {
		case <-c.done:
			select {
			case pool.calls <- c:
			default:
			}
			return
		case j := <-pool.jobs:
			j.run()
		}
	}
}

// parallelRange runs r over [0, n) in one contiguous share per worker and returns when
// all are done.
func parallelRange(r rangeRunner, n int) {
	w := shares(n)
	if w <= 1 {
		r.runRange(0, n)
		return
	}
	c := newCall(w - 1)
	for i := 1; i < w; i++ {
		pool.jobs <- poolJob{r: r, lo: i * n / w, hi: (i + 1) * n / w, call: c}
	}
	r.runRange(0, n/w)
	c.wait()
}

// parallelElementwise runs f over matching blocks of x and of y, z and w (each as
// long as x, or nil), split across the workers when x is long enough.
func parallelElementwise(f func(x, y, z, w []float32), x, y, z, w []float32) {
	n := len(x)
	parts := 1
	if n >= ParallelMinElems {
		parts = shares(n)
	}
	if parts <= 1 {
		f(x, y, z, w)
		return
	}
	block := func(s []float32, i int) []float32 {
		if s == nil {
			return nil
		}
		return s[i*n/parts : (i+1)*n/parts]
	}
	c := newCall(parts - 1)
	for i := 1; i < parts; i++ {
		pool.jobs <- poolJob{ew: f, x: block(x, i), y: block(y, i), z: block(z, i), w: block(w, i), call: c}
	}
	f(block(x, 0), block(y, 0), block(z, 0), block(w, 0))
	c.wait()
}

// parallelSgemm is g.Sgemm with the m rows of C cut into GemmShares blocks when the
// product is large enough (ParallelMinMACs), the blocks run on the workers. Each
// block is an ordinary Sgemm on rows of C and the matching rows of op(A), so the
// backend needs no change.
func parallelSgemm(g Gemm, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	parts := GemmShares
	if m*n*k < ParallelMinMACs || m < parts {
		g.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	share := func(i int) gemmArgs {
		lo, hi := i*m/parts, (i+1)*m/parts
		ga := gemmArgs{transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha, beta: beta,
			b: b, ldb: ldb, c: c[lo*ldc:], ldc: ldc, lda: lda}
		if transA {
			ga.a = a[lo:] // op(A) rows are columns of A
		} else {
			ga.a = a[lo*lda:]
		}
		return ga
	}
	if shares(parts) <= 1 {
		for i := range parts {
			ga := share(i)
			ga.run(g)
		}
		return
	}
	call := newCall(parts - 1)
	for i := 1; i < parts; i++ {
		pool.jobs <- poolJob{g: g, ga: share(i), call: call}
	}
	ga := share(0)
	ga.run(g)
	call.wait()
}
