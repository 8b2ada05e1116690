package agents

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
)

// Files a resumable checkpoint adds beside the model (or adapter) files.
const (
	TrainStateFile = "trainer_state.json"
	OptimizerFile  = "optimizer.safetensors"
)

// TrainState is what a run needs, beyond the weights, to continue exactly as an
// uninterrupted run would: the loop's state (update count, best score, whether the
// evaluation due there was done, the metrics being averaged), the random source's
// state, and whatever else the trainer keeps (Extra: a learned temperature, where
// an online iteration stands).
type TrainState struct {
	Loop  LoopState          `json:"loop"`
	Rand  []byte             `json:"rand"` // rand.PCG's binary state
	Extra map[string]float64 `json:"extra,omitempty"`
	// Streams holds the state of other random streams of the run by name (adapter
	// dropout: lora.Model.DropoutState).
	Streams map[string][]byte `json:"streams,omitempty"`
}

// Step is the update count of the state.
func (s TrainState) Step() int { return s.Loop.Step }

// MarshalJSON writes Best as null while it is −Inf.
func (s LoopState) MarshalJSON() ([]byte, error) {
	type plain LoopState
	out := struct {
		plain
		Best *float64 `json:"best_score"`
	}{plain: plain(s)}
	if !math.IsInf(s.Best, -1) && !math.IsNaN(s.Best) {
		out.Best = &s.Best
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *LoopState) UnmarshalJSON(data []byte) error {
	type plain LoopState
	in := struct {
		plain
		Best *float64 `json:"best_score"`
	}{}
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*s = LoopState(in.plain)
	s.Best = math.Inf(-1)
	if in.Best != nil {
		s.Best = *in.Best
	}
	return nil
}

// NewRand returns a seeded random source and the PCG behind it, whose state a
// TrainState saves. It is Seed(seed).Stream("train").
func NewRand(seed uint64) (*rand.Rand, *rand.PCG) { return Seed(seed).Stream("train") }

// SaveTrainState writes the train state and the optimizer's moments into dir (which
// already holds, or will hold, the weights), each file atomically.
func SaveTrainState(dir string, st TrainState, src *rand.PCG, opt nn.AdamWState) error {
	rs, err := src.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	st.Rand = rs
	f := &safetensors.File{Metadata: map[string]string{"optimizer": "adamw", "step": fmt.Sprint(opt.Step)}}
	for _, t := range opt.Tensors {
		ten, err := safetensors.NewFloat32(t.Name, t.Shape, t.Data)
		if err != nil {
			return fmt.Errorf("save train state: %w", err)
		}
		if err := f.Add(ten); err != nil {
			return fmt.Errorf("save train state: %w", err)
		}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, OptimizerFile), f); err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, TrainStateFile), append(data, '\n'))
}

// LoadTrainState reads what SaveTrainState wrote, restores src's state and returns
// the train state and the optimizer state (for AdamW.LoadState).
func LoadTrainState(dir string, src *rand.PCG) (TrainState, nn.AdamWState, error) {
	var st TrainState
	path := filepath.Join(dir, TrainStateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return st, nn.AdamWState{}, fmt.Errorf("resume: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, nn.AdamWState{}, fmt.Errorf("resume: %s: %w", path, err)
	}
	if st.Loop.Step < 0 || st.Loop.BestStep < -1 || st.Loop.BestStep > st.Loop.Step || st.Loop.Averaged < 0 {
		return st, nn.AdamWState{}, fmt.Errorf("resume: %s: loop state %+v: want 0 ≤ step, −1 ≤ best_step ≤ step, averaged ≥ 0", path, st.Loop)
	}
	if err := src.UnmarshalBinary(st.Rand); err != nil {
		return st, nn.AdamWState{}, fmt.Errorf("resume: %s: random state: %w", path, err)
	}
	optPath := filepath.Join(dir, OptimizerFile)
	f, err := safetensors.ReadFile(optPath)
	if err != nil {
		return st, nn.AdamWState{}, fmt.Errorf("resume: %w", err)
	}
	var opt nn.AdamWState
	if _, err := fmt.Sscan(f.Metadata["step"], &opt.Step); err != nil {
		return st, nn.AdamWState{}, fmt.Errorf("resume: %s: metadata step %q: %w", optPath, f.Metadata["step"], err)
	}
	for _, t := range f.Tensors() {
		data, err := t.Float32()
		if err != nil {
			return st, nn.AdamWState{}, fmt.Errorf("resume: %s: tensor %s: %w", optPath, t.Name, err)
		}
		opt.Tensors = append(opt.Tensors, &nn.Param{Name: t.Name, Shape: append([]int(nil), t.Shape...), Data: data})
	}
	return st, opt, nil
}
