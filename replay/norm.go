package replay

import (
	"fmt"
	"math"
)

// DefaultStdFloor is the smallest standard deviation ComputeNormStats returns, the size
// of the 1e-6 the DT reference adds to its std, so that a constant observation feature
// normalises to 0 instead of dividing by zero.
const DefaultStdFloor = 1e-6

// NormStats are per-feature observation statistics: a model sees (obs − Mean) / Std.
// They are computed once from the pretraining data and stored with the checkpoint,
// because fine-tuning and evaluation must normalise exactly as pretraining did.
type NormStats struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// ComputeNormStats returns the mean and the (population) standard deviation, floored
// at stdFloor (≤ 0 means DefaultStdFloor), of every observation that is followed by
// an action — the states a DT is trained on; the final observation of each episode is
// not an input and is left out, as in the reference's datasets.
func ComputeNormStats(episodes []*Episode, stdFloor float64) (NormStats, error) {
	if stdFloor <= 0 {
		stdFloor = DefaultStdFloor
	}
	if len(episodes) == 0 {
		return NormStats{}, fmt.Errorf("replay: normalisation statistics: %w", ErrEmpty)
	}
	dim := episodes[0].ObsDim
	sum := make([]float64, dim)
	n := 0
	for i, ep := range episodes {
		if ep.ObsDim != dim {
			return NormStats{}, fmt.Errorf("replay: normalisation statistics: episode %d (%s): %w: obs dim %d, episode 0 has %d", i, ep.EnvID, ErrDims, ep.ObsDim, dim)
		}
		if err := ep.Validate(); err != nil {
			return NormStats{}, fmt.Errorf("replay: normalisation statistics: episode %d: %w", i, err)
		}
		for t := 0; t < ep.Len(); t++ {
			for j, v := range ep.Obs(t) {
				sum[j] += float64(v)
			}
		}
		n += ep.Len()
	}
	if n == 0 {
		return NormStats{}, fmt.Errorf("replay: normalisation statistics: %w: %d episodes with no steps", ErrEmpty, len(episodes))
	}
	s := NormStats{Mean: make([]float64, dim), Std: make([]float64, dim)}
	for j := range sum {
		s.Mean[j] = sum[j] / float64(n)
	}
	// Second pass around the mean: exact where Σx² − n·mean² cancels.
	sq := make([]float64, dim)
	for _, ep := range episodes {
		for t := 0; t < ep.Len(); t++ {
			for j, v := range ep.Obs(t) {
				d := float64(v) - s.Mean[j]
				sq[j] += d * d
			}
		}
	}
	for j := range sq {
		s.Std[j] = math.Max(math.Sqrt(sq[j]/float64(n)), stdFloor)
	}
	return s, nil
}
