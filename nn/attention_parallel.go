package nn

import (
	"runtime"
	"sync"
)

// The (batch, head) pairs of attention are independent products: they run on a
// small pool of worker goroutines shared by every Attention in the process, one per
// CPU (GOMAXPROCS at first use). Each pair writes only its own slices, so the result
// does not depend on scheduling. Work is handed over as values of an interface
// holding a pointer, so a step allocates nothing.

// rangeRunner runs items [lo, hi) of the work currently set up on it.
type rangeRunner interface {
	runRange(lo, hi int)
}

type rangeJob struct {
	r      rangeRunner
	lo, hi int
	wg     *sync.WaitGroup
}

var headPool struct {
	once    sync.Once
	workers int
	jobs    chan rangeJob
}

func startHeadPool() {
	headPool.workers = runtime.GOMAXPROCS(0)
	headPool.jobs = make(chan rangeJob, 4*headPool.workers)
	// The calling goroutine takes one share itself, so workers−1 helpers suffice.
	for i := 1; i < headPool.workers; i++ {
		go func() {
			for j := range headPool.jobs {
				j.r.runRange(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
}

// parallelRange runs r over [0, n) split into one contiguous share per worker and
// returns when all are done. wg belongs to the caller (one per concurrent user).
func parallelRange(r rangeRunner, n int, wg *sync.WaitGroup) {
	headPool.once.Do(startHeadPool)
	w := min(headPool.workers, n)
	if w <= 1 {
		r.runRange(0, n)
		return
	}
	for i := 1; i < w; i++ {
		wg.Add(1)
		headPool.jobs <- rangeJob{r: r, lo: i * n / w, hi: (i + 1) * n / w, wg: wg}
	}
	r.runRange(0, n/w)
	wg.Wait()
}
