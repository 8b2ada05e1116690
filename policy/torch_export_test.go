package policy

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/evarl/evarl/internal/safetensors"
	"github.com/evarl/evarl/nn"
)

// TestExportForTorch writes the reference model (as a checkpoint), a padded batch,
// and evarl's predictions, loss and every parameter gradient for it, so that
// bench/torch_check.py can recompute them with PyTorch's autograd. It runs only when
// EVARL_TORCH_EXPORT names an output directory (bench/run_torch_check.sh sets it).
func TestExportForTorch(t *testing.T) {
	dir := os.Getenv("EVARL_TORCH_EXPORT")
	if dir == "" {
		t.Skip("EVARL_TORCH_EXPORT not set")
	}
	cfg := DefaultConfig(17, boxed(6, -1, 1))
	cfg.MaxEpisodeLen = 1000
	rng := rand.New(rand.NewPCG(5, 6))
	m, err := New(cfg, rng, nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrain(false) // dropout off: both sides compute the same function
	bt := randomBatch(cfg, 8, rng)
	for i := range bt.Timesteps {
		bt.Timesteps[i] = 900 + i%cfg.Context // inside the table on both sides
	}
	if err := m.Save(filepath.Join(dir, "ckpt")); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(bt); err != nil {
		t.Fatal(err)
	}
	loss := m.Loss(bt, 0)
	m.Params().ZeroGrad()
	m.Backward()

	B, K, S, A := bt.B, bt.K, cfg.StateDim, cfg.Action.Width()
	f := &safetensors.File{Metadata: map[string]string{"what": "evarl policy export for bench/torch_check.py"}}
	add := func(name string, shape []int, data []float32) {
		tn, err := safetensors.NewFloat32(name, shape, data)
		if err == nil {
			err = f.Add(tn)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mask := make([]float32, B*K)
	ts := make([]int64, B*K)
	for i := range mask {
		if bt.Mask[i] {
			mask[i] = 1
		}
		ts[i] = int64(bt.Timesteps[i])
	}
	add("returns", []int{B, K, 1}, bt.Returns)
	add("states", []int{B, K, S}, bt.States)
	add("actions", []int{B, K, A}, bt.Actions)
	add("mask", []int{B, K}, mask)
	add("pred", []int{B, K, A}, m.buf.pred[:B*K*A])
	add("loss", []int{1}, []float32{loss.Loss})
	tt, _ := safetensors.NewInt64("timesteps", []int{B, K}, ts)
	if err := f.Add(tt); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params().All() {
		add("grad."+p.Name, p.Shape, p.Grad)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "batch.safetensors"), f); err != nil {
		t.Fatal(err)
	}
}
