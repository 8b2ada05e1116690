package replay

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Buffer is the trajectory-level replay buffer of the Online Decision Transformer
// (Zheng et al. 2022): it holds whole episodes, up to a capacity counted in episodes,
// starts from offline data and then replaces its oldest episode with each new one.
//
// Returns-to-go are computed from the stored rewards, so every stored trajectory is
// conditioned on the return it actually achieved — ODT's hindsight relabelling comes
// for free. Windows are sampled exactly as by Sampler (same code).
type Buffer struct {
	w        windows
	capacity int
	dirty    bool
}

// NewBuffer makes a buffer of the given capacity and fills it from initial (usually a
// dataset's episodes). When initial holds more episodes than fit, the ones with the
// highest returns are kept, as ODT does; they are stored in increasing order of
// return, so the worst of them are the first to be replaced by online episodes.
// The buffer aliases the episodes; do not modify them.
func NewBuffer(capacity int, initial []*Episode) (*Buffer, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("replay: buffer capacity %d: want a positive number of episodes", capacity)
	}
	b := &Buffer{capacity: capacity}
	order := make([]int, len(initial))
	returns := make([]float64, len(initial))
	for i, ep := range initial {
		if err := b.w.accept(ep); err != nil {
			return nil, fmt.Errorf("replay: buffer: episode %d: %w", i, err)
		}
		order[i] = i
		returns[i] = ep.Return()
	}
	sort.SliceStable(order, func(i, j int) bool { return returns[order[i]] < returns[order[j]] })
	if len(order) > capacity {
		order = order[len(order)-capacity:]
	}
	for _, i := range order {
		b.w.trajs = append(b.w.trajs, newTrajectory(initial[i]))
	}
	b.dirty = true
	return b, nil
}

// Add stores ep, replacing the oldest episode when the buffer is full.
func (b *Buffer) Add(ep *Episode) error {
	if err := b.w.accept(ep); err != nil {
		return fmt.Errorf("replay: buffer: %w", err)
	}
	tr := newTrajectory(ep)
	if len(b.w.trajs) < b.capacity {
		b.w.trajs = append(b.w.trajs, tr)
	} else {
		// Storage stays oldest first (a shift of C small headers, nothing next to an
		// episode's cost), so a buffer rebuilt by adding Episodes() in order samples
		// exactly as this one: what a resumed online run needs.
		copy(b.w.trajs, b.w.trajs[1:])
		b.w.trajs[len(b.w.trajs)-1] = tr
	}
	b.dirty = true
	return nil
}

// Sample fills batch with windows drawn as Sampler.Sample draws them (trajectories in
// proportion to their length). It does not allocate unless episodes were added since
// the last call and the length index must grow.
func (b *Buffer) Sample(rng *rand.Rand, batch *Batch) error {
	if b.dirty {
		b.w.reindex()
		b.dirty = false
	}
	if err := b.w.sample(rng, batch); err != nil {
		return fmt.Errorf("replay: buffer (%d episodes): %w", len(b.w.trajs), err)
	}
	return nil
}

// Len is the number of episodes held.
func (b *Buffer) Len() int { return len(b.w.trajs) }

// Capacity is the most episodes the buffer holds.
func (b *Buffer) Capacity() int { return b.capacity }

// Episodes returns the stored episodes from oldest to newest, the order in which
// they are stored: NewBuffer(capacity, nil, …) followed by Add of each of them gives a
// buffer that samples the same windows from the same random draws.
func (b *Buffer) Episodes() []*Episode {
	out := make([]*Episode, 0, len(b.w.trajs))
	for _, tr := range b.w.trajs {
		out = append(out, tr.ep)
	}
	return out
}

// Transitions is the number of steps held.
func (b *Buffer) Transitions() int {
	n := 0
	for _, tr := range b.w.trajs {
		n += tr.ep.Len()
	}
	return n
}
