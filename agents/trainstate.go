package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/evarl/evarl/internal/atomicfile"
	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
)

// Files a resumable checkpoint adds beside the model (or adapter) files.
const (
	TrainStateFile = "trainer_state.json"
	OptimizerFile  = "optimizer.safetensors"
)

// trainStateFormat names the optimizer file's format in its metadata; version 1 is
// the first sealed one (older train states carry no checksums and are refused).
const (
	trainStateFormat  = "evarl-train-state"
	trainStateVersion = "1"
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

// SaveTrainState writes the train state (trainer_state.json) and the optimizer's
// moments (optimizer.safetensors) into dir, which already holds, or will hold, the
// weights; each file atomically. optimizer.safetensors is sealed: its metadata
// records the SHA-256 of trainer_state.json, of each file of dir named in covered
// (written before this call, e.g. an online trainer's replay buffer), and its own
// digest, so that LoadTrainState refuses any of them damaged, edited or mixed with
// another save (docs/file-integrity.md).
func SaveTrainState(dir string, st TrainState, src *rand.PCG, opt nn.AdamWState, covered ...string) error {
	rs, err := src.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	st.Rand = rs
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	js = append(js, '\n')
	f, err := encodeOptimizer(opt)
	if err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	companions := map[string][]byte{TrainStateFile: js}
	for _, name := range covered {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("save train state: %w", err)
		}
		companions[name] = b
	}
	f.Seal(companions)
	if err := atomicfile.WriteFile(filepath.Join(dir, TrainStateFile), js); err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, OptimizerFile), f); err != nil {
		return fmt.Errorf("save train state: %w", err)
	}
	return nil
}

// encodeOptimizer lays out an optimizer state as a safetensors file (unsealed).
func encodeOptimizer(opt nn.AdamWState) (*safetensors.File, error) {
	f := &safetensors.File{Metadata: map[string]string{
		"format": trainStateFormat, "format_version": trainStateVersion,
		"optimizer": "adamw", "step": strconv.Itoa(opt.Step),
	}}
	for _, t := range opt.Tensors {
		ten, err := safetensors.NewFloat32(t.Name, t.Shape, t.Data)
		if err != nil {
			return nil, err
		}
		if err := f.Add(ten); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// LoadTrainState reads what SaveTrainState wrote, verifying every file the
// optimizer file seals (trainer_state.json and any covered file, such as an online
// replay buffer), restores src's state and returns the train state and the optimizer
// state (for AdamW.LoadState). Errors name the file and what failed.
func LoadTrainState(dir string, src *rand.PCG) (TrainState, nn.AdamWState, error) {
	optPath := filepath.Join(dir, OptimizerFile)
	s, err := safetensors.ReadSealed(optPath, []string{TrainStateFile}, safetensors.ReadOptions{})
	if err != nil {
		if errors.Is(err, safetensors.ErrUnverified) {
			err = fmt.Errorf("%w (saved by an evarl version before train states were sealed? start the run again)", err)
		}
		return TrainState{}, nn.AdamWState{}, fmt.Errorf("resume: %w", err)
	}
	st, err := DecodeTrainState(filepath.Join(dir, TrainStateFile), s.Companions[TrainStateFile])
	if err != nil {
		return TrainState{}, nn.AdamWState{}, fmt.Errorf("resume: %w", err)
	}
	opt, err := decodeOptimizer(optPath, s.File)
	if err != nil {
		return TrainState{}, nn.AdamWState{}, fmt.Errorf("resume: %w", err)
	}
	if err := src.UnmarshalBinary(st.Rand); err != nil {
		return TrainState{}, nn.AdamWState{}, fmt.Errorf("resume: %s: random state: %w", filepath.Join(dir, TrainStateFile), err)
	}
	return st, opt, nil
}

// DecodeTrainState parses the bytes of a trainer_state.json (name is used in
// errors), strictly: one JSON object, no unknown field, a consistent loop state
// (0 ≤ step, −1 ≤ best_step ≤ step, averaged ≥ 0), finite extra values, and a
// random state of the size rand.PCG writes. It does not check integrity
// (LoadTrainState does).
func DecodeTrainState(name string, data []byte) (TrainState, error) {
	var st TrainState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return TrainState{}, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return TrainState{}, fmt.Errorf("%s: unexpected data after the JSON object", name)
	}
	if l := st.Loop; l.Step < 0 || l.BestStep < -1 || l.BestStep > l.Step || l.Averaged < 0 {
		return TrainState{}, fmt.Errorf("%s: loop state %+v: want 0 ≤ step, −1 ≤ best_step ≤ step, averaged ≥ 0", name, st.Loop)
	}
	if err := new(rand.PCG).UnmarshalBinary(st.Rand); err != nil {
		return TrainState{}, fmt.Errorf("%s: rand: %w", name, err)
	}
	for k, v := range st.Extra {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return TrainState{}, fmt.Errorf("%s: extra %q = %v, want a finite number", name, k, v)
		}
	}
	return st, nil
}

// decodeOptimizer reads the optimizer state out of a decoded optimizer.safetensors
// (path is used in errors): the format, the step and every tensor, F32 and finite.
func decodeOptimizer(path string, f *safetensors.File) (nn.AdamWState, error) {
	var opt nn.AdamWState
	if v := f.Metadata["format"]; v != trainStateFormat {
		return opt, fmt.Errorf("%s: metadata format %q, want %q", path, v, trainStateFormat)
	}
	if v := f.Metadata["format_version"]; v != trainStateVersion {
		return opt, fmt.Errorf("%s: metadata format_version %q, this build reads %q", path, v, trainStateVersion)
	}
	if v := f.Metadata["optimizer"]; v != "adamw" {
		return opt, fmt.Errorf("%s: metadata optimizer %q, want \"adamw\"", path, v)
	}
	step, err := strconv.Atoi(f.Metadata["step"])
	if err != nil || step < 0 {
		return opt, fmt.Errorf("%s: metadata step %q: want an integer ≥ 0", path, f.Metadata["step"])
	}
	opt.Step = step
	for _, t := range f.Tensors() {
		data, err := t.Float32()
		if err != nil {
			return opt, fmt.Errorf("%s: tensor %s: %w", path, t.Name, err)
		}
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return opt, fmt.Errorf("%s: tensor %s holds %v at index %d", path, t.Name, v, i)
			}
		}
		opt.Tensors = append(opt.Tensors, &nn.Param{Name: t.Name, Shape: append([]int(nil), t.Shape...), Data: data})
	}
	return opt, nil
}
