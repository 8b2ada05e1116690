package replay

import (
	"fmt"
	"math/rand/v2"
)

// Batch is a batch of context windows, the one input type of Decision Transformer
// training and acting (package policy reads it as policy.Batch). All arrays are
// row-major; b indexes the batch, k the position in the window (oldest first), and
// windows shorter than K are left-padded:
//
//	Returns   (B, K)          undiscounted return-to-go from that step, in reward units; 0 at padding
//	States    (B, K, ObsDim)  observations as recorded; 0 at padding
//	Actions   (B, K, ActDim)  actions as recorded (a discrete action is its index); 0 at padding
//	Timesteps (B, K)          step index in the episode; 0 at padding
//	Mask      (B, K)          true for real steps, false for padding
//
// Everything is raw, as the environment and the dataset give it: the model scales
// returns, normalises states and clips timesteps itself, with the statistics its
// checkpoint carries, so there is one place where those transformations happen.
//
// The caller owns a Batch (NewBatch allocates it once); samplers overwrite every
// element on each call, so a batch is reused across training steps without
// allocating. B and K may be lowered below the allocated sizes (acting uses the
// shortest window that holds every history); the arrays then hold B·K rows.
type Batch struct {
	B, K, ObsDim, ActDim int

	Returns   []float32
	States    []float32
	Actions   []float32
	Timesteps []int
	Mask      []bool
}

// NewBatch allocates a batch of b windows of k steps.
func NewBatch(b, k, obsDim, actDim int) *Batch {
	return &Batch{
		B: b, K: k, ObsDim: obsDim, ActDim: actDim,
		Returns:   make([]float32, b*k),
		States:    make([]float32, b*k*obsDim),
		Actions:   make([]float32, b*k*actDim),
		Timesteps: make([]int, b*k),
		Mask:      make([]bool, b*k),
	}
}

// check reports a batch whose arrays disagree with its sizes or whose sizes disagree
// with the sampler's data.
func (b *Batch) check(obsDim, actDim int) error {
	switch {
	case b.B <= 0 || b.K <= 0:
		return fmt.Errorf("replay: batch size %d and context length %d must be positive", b.B, b.K)
	case b.ObsDim != obsDim || b.ActDim != actDim:
		return fmt.Errorf("replay: batch has obs dim %d and action dim %d, the data has %d and %d", b.ObsDim, b.ActDim, obsDim, actDim)
	case len(b.States) < b.B*b.K*b.ObsDim || len(b.Actions) < b.B*b.K*b.ActDim ||
		len(b.Returns) < b.B*b.K || len(b.Timesteps) < b.B*b.K || len(b.Mask) < b.B*b.K:
		return fmt.Errorf("replay: batch arrays do not hold B=%d K=%d obs=%d act=%d (use NewBatch)", b.B, b.K, b.ObsDim, b.ActDim)
	}
	return nil
}

// trajectory is an episode prepared for window sampling: its returns-to-go are
// computed once.
type trajectory struct {
	ep  *Episode
	rtg []float32 // rtg[t] = Σ_{u ≥ t} r_u, t < Len()
}

func newTrajectory(ep *Episode) trajectory {
	rtg := make([]float32, ep.Len())
	var sum float64 // float64 so long episodes do not lose small rewards
	for t := ep.Len() - 1; t >= 0; t-- {
		sum += float64(ep.Rewards[t])
		rtg[t] = float32(sum)
	}
	return trajectory{ep: ep, rtg: rtg}
}

// windows samples windows from a list of trajectories. It is the one implementation
// behind Sampler and Buffer.
type windows struct {
	obsDim, actDim int
	trajs          []trajectory
	cum            []int // cum[i] = total length of trajs[0..i]
}

// accept checks an episode against the data's sizes (set by the first one).
func (w *windows) accept(ep *Episode) error {
	if err := ep.Validate(); err != nil {
		return err
	}
	if w.obsDim != 0 && ep.ObsDim != w.obsDim {
		return fmt.Errorf("%w: %s episode has obs dim %d, the others have %d", ErrDims, ep.EnvID, ep.ObsDim, w.obsDim)
	}
	if w.actDim != 0 && ep.ActDim != w.actDim {
		return fmt.Errorf("%w: %s episode has action dim %d, the others have %d", ErrDims, ep.EnvID, ep.ActDim, w.actDim)
	}
	w.obsDim, w.actDim = ep.ObsDim, ep.ActDim
	return nil
}

// reindex recomputes the cumulative lengths after trajs changed.
func (w *windows) reindex() {
	w.cum = w.cum[:0]
	total := 0
	for _, tr := range w.trajs {
		total += tr.ep.Len()
		w.cum = append(w.cum, total)
	}
}

// sample fills every row of b with a window. A uniformly drawn step of the whole data
// picks both the trajectory (with probability proportional to its length, as in the
// DT reference's get_batch) and the window's first step (uniform within it).
func (w *windows) sample(rng *rand.Rand, b *Batch) error {
	if len(w.cum) == 0 || w.cum[len(w.cum)-1] == 0 {
		return fmt.Errorf("replay: nothing to sample: no episode has a step")
	}
	if err := b.check(w.obsDim, w.actDim); err != nil {
		return err
	}
	total := w.cum[len(w.cum)-1]
	for row := 0; row < b.B; row++ {
		u := rng.IntN(total)
		// First i with cum[i] > u (empty trajectories never satisfy it).
		lo, hi := 0, len(w.cum)-1
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if w.cum[mid] > u {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		start := u
		if lo > 0 {
			start -= w.cum[lo-1]
		}
		w.fill(b, row, &w.trajs[lo], start)
	}
	return nil
}

// fill writes the window of tr that starts at step start into row row of b: the
// steps start … start+K−1 that exist, right-aligned, with padding before them.
func (w *windows) fill(b *Batch, row int, tr *trajectory, start int) {
	k, od, ad := b.K, b.ObsDim, b.ActDim
	n := min(k, tr.ep.Len()-start)
	pad := k - n
	states := b.States[row*k*od : (row+1)*k*od]
	actions := b.Actions[row*k*ad : (row+1)*k*ad]
	rtg := b.Returns[row*k : (row+1)*k]
	ts := b.Timesteps[row*k : (row+1)*k]
	mask := b.Mask[row*k : (row+1)*k]

	clear(states[:pad*od])
	clear(actions[:pad*ad])
	clear(rtg[:pad])
	clear(ts[:pad])
	clear(mask[:pad])
	for j := 0; j < n; j++ {
		t, p := start+j, pad+j
		copy(states[p*od:(p+1)*od], tr.ep.Observations[t*od:(t+1)*od])
		copy(actions[p*ad:(p+1)*ad], tr.ep.Actions[t*ad:(t+1)*ad])
		rtg[p] = tr.rtg[t]
		ts[p] = t
		mask[p] = true
	}
}

// Sampler draws DT training windows from a fixed set of episodes (a dataset).
type Sampler struct {
	w windows
}

// NewSampler prepares episodes for sampling: it checks that they share sizes and
// computes their returns-to-go. Episodes without steps are kept but never drawn. The
// sampler aliases the episodes; do not modify them.
func NewSampler(episodes []*Episode) (*Sampler, error) {
	s := &Sampler{}
	for i, ep := range episodes {
		if err := s.w.accept(ep); err != nil {
			return nil, fmt.Errorf("replay: sampler: episode %d: %w", i, err)
		}
		s.w.trajs = append(s.w.trajs, newTrajectory(ep))
	}
	s.w.reindex()
	if len(s.w.cum) == 0 || s.w.cum[len(s.w.cum)-1] == 0 {
		return nil, fmt.Errorf("replay: sampler: %w: %d episodes with no steps", ErrEmpty, len(episodes))
	}
	return s, nil
}

// Sample fills b with b.B windows of b.K steps drawn with rng. It does not allocate.
// It fails only when b's sizes do not match the data.
func (s *Sampler) Sample(rng *rand.Rand, b *Batch) error { return s.w.sample(rng, b) }

// Transitions is the number of steps windows are drawn from.
func (s *Sampler) Transitions() int { return s.w.cum[len(s.w.cum)-1] }
