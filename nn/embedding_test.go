package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// The reference writes the lookup as a one-hot matrix times the table.
func TestEmbeddingMatchesGorgonia(t *testing.T) {
	const rows, c = 5, 3
	ids := []int{4, 0, 4, 2, 1, 4} // row 4 used three times: gradients accumulate
	rng := rand.New(rand.NewPCG(13, 14))
	e := NewEmbedding("embed_timestep", rows, c)
	e.InitNormal(rng, 1)
	dy := randn(rng, len(ids)*c, 1)
	y := make([]float32, len(ids)*c)
	e.Forward(ids, y, nil)
	e.Backward(ids, dy)

	onehot := make([]float64, len(ids)*rows)
	for i, id := range ids {
		onehot[i*rows+id] = 1
	}
	g := G.NewGraph()
	wn := gNode(g, "w", e.W.Data, rows, c)
	yn := G.Must(G.Mul(gConst("onehot", onehot, len(ids), rows), wn))
	grads := gRun(t, g, gWeighted(g, yn, dy), wn)
	assertClose(t, "y", y, gValue(yn), 0, 0)
	assertClose(t, "dw", e.W.Grad, grads[0], oracleAtol, oracleRtol)

	e.W.SetTrainable(false)
	e.Backward(ids, dy) // frozen: must not panic or allocate a gradient
	if e.W.Grad != nil {
		t.Error("frozen table got a gradient buffer")
	}
}

// recordingHook stands in for package lora's adapter and eva's observer: it adds a
// known value per id and records what it was shown.
type recordingHook struct {
	add      float32
	seenIDs  []int
	seenMask []bool
	grads    []float32
	train    bool
}

func (h *recordingHook) Forward(ids []int, y []float32) {
	c := len(y) / len(ids)
	for i, id := range ids {
		for j := 0; j < c; j++ {
			y[i*c+j] += h.add * float32(id)
		}
	}
}
func (h *recordingHook) Backward(ids []int, dy []float32) { h.grads = append(h.grads, dy...) }
func (h *recordingHook) ObserveIDs(ids []int, mask []bool) {
	h.seenIDs = append(h.seenIDs, ids...)
	h.seenMask = append(h.seenMask, mask...)
}
func (h *recordingHook) SetTrain(on bool) { h.train = on }

var (
	_ EmbeddingAdapter = (*recordingHook)(nil)
	_ IDObserver       = (*recordingHook)(nil)
	_ TrainMode        = (*recordingHook)(nil)
)

func TestEmbeddingHooks(t *testing.T) {
	tests := []struct {
		name   string
		frozen bool
		mask   []bool
	}{
		{"trainable, no mask", false, nil},
		{"frozen, padding", true, []bool{false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmbedding("embed_action", 3, 2)
			e.InitNormal(rand.New(rand.NewPCG(1, 2)), 1)
			e.W.SetTrainable(!tt.frozen)
			h := &recordingHook{add: 10}
			e.Adapter, e.Observer = h, h
			ids := []int{2, 0, 1}
			y := make([]float32, 6)
			e.Forward(ids, y, tt.mask)
			for i, id := range ids {
				for j := 0; j < 2; j++ {
					if want := e.W.Data[id*2+j] + 10*float32(id); y[i*2+j] != want {
						t.Errorf("y[%d,%d] = %v, want table row %d + adapter = %v", i, j, y[i*2+j], id, want)
					}
				}
			}
			if len(h.seenIDs) != 3 || h.seenIDs[0] != 2 || len(h.seenMask) != len(tt.mask) {
				t.Errorf("observer saw ids %v mask %v, want %v and %v", h.seenIDs, h.seenMask, ids, tt.mask)
			}
			dy := []float32{1, 2, 3, 4, 5, 6}
			e.Backward(ids, dy)
			if len(h.grads) != 6 || h.grads[5] != 6 {
				t.Errorf("adapter got dy %v, want %v (also when the table is frozen)", h.grads, dy)
			}
			if tt.frozen != (e.W.Grad == nil) {
				t.Errorf("frozen %v but table gradient %v", tt.frozen, e.W.Grad)
			}
		})
	}
}
