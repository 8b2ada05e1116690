package agents

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
)

// Reset seeds come from three disjoint streams, so that no episode a policy is
// selected or reported on starts where a training episode started (with varied
// starts, a reset seed fixes the start state):
//
//   - training: dataset collection (small seeds, from rl-train collect's seed) and
//     online exploration, whose resets draw from [ExplorationSeeds, 2⁶²);
//   - validation: checkpoint selection and early stopping, episode j of a task
//     resetting with ValidationSeeds + j by default;
//   - test: what is reported, from TestSeeds by default.
//
// Fine-tuning checks the ranges it uses against each other and against the reset
// seeds recorded in its datasets (CheckSeedRanges).
const (
	ValidationSeeds  int64 = 1_000_000_000
	TestSeeds        int64 = 2_000_000_000
	ExplorationSeeds int64 = 1 << 40
)

// explorationSeedSpan is the size of the exploration range, [ExplorationSeeds,
// ExplorationSeeds + span).
const explorationSeedSpan int64 = 1<<62 - ExplorationSeeds

// SeedRange is a half-open range of reset seeds [First, First+Count) with a name for
// error messages.
type SeedRange struct {
	Name         string
	First, Count int64
}

func (r SeedRange) overlaps(o SeedRange) bool {
	return r.Count > 0 && o.Count > 0 && r.First < o.First+o.Count && o.First < r.First+r.Count
}

// CheckSeedRanges reports the first two ranges that overlap, naming both.
func CheckSeedRanges(ranges ...SeedRange) error {
	for i, a := range ranges {
		for _, b := range ranges[i+1:] {
			if a.overlaps(b) {
				return fmt.Errorf("seeds: %s [%d, %d) overlaps %s [%d, %d); the training, validation and test streams must be disjoint",
					a.Name, a.First, a.First+a.Count, b.Name, b.First, b.First+b.Count)
			}
		}
	}
	return nil
}

// ExplorationRange is the range online exploration draws its reset seeds from.
func ExplorationRange() SeedRange {
	return SeedRange{Name: "exploration", First: ExplorationSeeds, Count: explorationSeedSpan}
}

// Seed is the one seed of a run, from which every random stream of the run derives:
// a stream is named ("sampling", "eva", …), so adding a stream never changes the
// others.
type Seed uint64

// Stream returns the random source of the named stream, and the PCG behind it
// (whose state a checkpoint saves).
func (s Seed) Stream(name string) (*rand.Rand, *rand.PCG) {
	h := fnv.New64a()
	h.Write([]byte(name))
	src := rand.NewPCG(uint64(s), h.Sum64())
	return rand.New(src), src
}
