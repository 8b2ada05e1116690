package lora

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/safetensors"
)

// Every init × {LoRA, DoRA} on every adaptable layer kind of the toy: the q, fc and
// proj Linears and both embedding tables, with the head trained fully beside them.
type variant struct {
	init string
	dora bool
}

func variants() []variant {
	var vs []variant
	for _, init := range []string{InitRandom, InitGaussian, InitPiSSA, InitOLoRA, InitEVA} {
		for _, dora := range []bool{false, true} {
			vs = append(vs, variant{init, dora})
		}
	}
	return vs
}

func (v variant) String() string {
	if v.dora {
		return v.init + "+dora"
	}
	return v.init
}

// applyVariant attaches rank-2 adapters (pissa needs r ≤ 3 on the 3-row action
// table) to every block layer and both tables, modules_to_save [head].
func applyVariant(t *testing.T, base *toyModel, v variant, rng *rand.Rand) *Model {
	t.Helper()
	cfg := DefaultConfig()
	cfg.R, cfg.Alpha, cfg.Init, cfg.UseDoRA = 2, 4, v.init, v.dora
	cfg.TargetModules = []string{"attn.q", PresetMLP, "embed_timestep", "embed_action"}
	cfg.ModulesToSave = []string{"head"}
	opt := Options{Rng: rng}
	if v.init == InitEVA {
		opt.EvaA = map[string][]float32{}
		for _, l := range base.linears[:3] {
			opt.EvaA[l.Name] = randRows(rng, 2*l.In)
		}
		opt.EvaCounts = map[string][]float64{"embed_timestep": {5, 9, 1, 0, 9, 2}, "embed_action": {1, 4, 2}}
	}
	m, err := Apply(base, cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// train stands in for training: non-zero B (and A of tables), changed magnitudes,
// a changed head.
func train(m *Model, base *toyModel, rng *rand.Rand) {
	perturbB(m, rng)
	for i := range base.linears[3].W.Data {
		base.linears[3].W.Data[i] += float32(0.2 * rng.NormFloat64())
	}
}

func TestEveryVariantStartsAtBase(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) {
			base := newToy(3)
			x := randRows(rand.New(rand.NewPCG(1, 1)), 7*8)
			want := base.forward(x, 7)
			orig := newToy(3)
			m := applyVariant(t, base, v, rand.New(rand.NewPCG(2, 2)))
			tol := 0.0 // B = 0 (A = 0 for a table's random init) adds exactly nothing
			if v.init == InitPiSSA || v.init == InitOLoRA {
				tol = 1e-5 // W_res + scale·B·A = W up to float32 rounding
			}
			if d := maxAbsDiff(base.forward(x, 7), want); d > tol {
				t.Errorf("fresh adapters move the output by %v (tolerance %v)", d, tol)
			}
			if len(m.Adapters) != 3 || len(m.Embeddings) != 2 {
				t.Fatalf("%d linear and %d embedding adapters, want 3 and 2", len(m.Adapters), len(m.Embeddings))
			}
			if !v.dora {
				return
			}
			// DoRA's magnitude starts at the norm of the original weight's rows (of a
			// table's columns): the residual plus the adapter's part is the original.
			for i, lr := range m.lowRanks() {
				var origV []float32
				if lr.table {
					e := orig.tables[i-len(m.Adapters)]
					origV = transpose32(e.W.Data, e.N, e.C)
				} else {
					origV = orig.linears[i].W.Data
				}
				for o := 0; o < lr.out; o++ {
					var s float64
					for _, w := range origV[o*lr.in : (o+1)*lr.in] {
						s += float64(w) * float64(w)
					}
					if got := float64(lr.m.Data[o]); math.Abs(got-math.Sqrt(s)) > 1e-5*(1+math.Sqrt(s)) {
						t.Fatalf("%s: magnitude[%d] = %v, want the base norm %v", lr.name, o, got, math.Sqrt(s))
					}
				}
			}
		})
	}
}

// PEFT's key test for every variant: outputs before merge, after merge and after
// unmerge are equal, and differ from the base after "training"; unmerge puts the
// weights back bit for bit.
func TestEveryVariantMergesAndUnmerges(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, 4))
			base := newToy(5)
			x := randRows(rng, 7*8)
			baseOut := base.forward(x, 7)
			m := applyVariant(t, base, v, rng)
			train(m, base, rng)
			unmerged := base.forward(x, 7)
			if d := maxAbsDiff(unmerged, baseOut); d < 1e-2 {
				t.Fatalf("trained adapters change the output by only %v", d)
			}
			before := snapshot(base)
			if err := m.Merge(true); err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(base.forward(x, 7), unmerged); d > 1e-5 {
				t.Errorf("merged and unmerged outputs differ by %v", d)
			}
			if err := m.Unmerge(); err != nil {
				t.Fatal(err)
			}
			for name, w := range snapshot(base) {
				if d := maxAbsDiff(w, before[name]); d != 0 {
					t.Errorf("unmerge leaves %s %v from its weight before merge", name, d)
				}
			}
			if d := maxAbsDiff(base.forward(x, 7), unmerged); d != 0 {
				t.Errorf("after unmerge the output moved by %v", d)
			}
		})
	}
}

func snapshot(b *toyModel) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range b.params.All() {
		out[p.Name] = append([]float32(nil), p.Data...)
	}
	return out
}

// Disabling the adapters gives the base model's output exactly (PEFT's
// disable_adapter), for every init: pissa/olora add back the residual's part, and
// the fully trained head holds its value at attach; enabling gives the adapted output
// back. A merged model is unmerged by disabling.
func TestEveryVariantDisables(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, 6))
			base := newToy(7)
			x := randRows(rng, 5*8)
			baseOut := base.forward(x, 5)
			m := applyVariant(t, base, v, rng)
			train(m, base, rng)
			adapted := base.forward(x, 5)
			tol := 0.0
			if v.init == InitPiSSA || v.init == InitOLoRA {
				tol = 1e-5
			}
			for _, merged := range []bool{false, true} {
				if merged {
					if err := m.Merge(true); err != nil {
						t.Fatal(err)
					}
				}
				m.SetEnabled(false)
				if m.Enabled() || m.Adapters[0].Enabled() || m.Embeddings[0].Enabled() {
					t.Fatal("SetEnabled(false) left an adapter enabled")
				}
				if d := maxAbsDiff(base.forward(x, 5), baseOut); d > tol {
					t.Errorf("merged %v: disabled output is %v from the base model's", merged, d)
				}
				if err := m.Merge(false); err == nil {
					t.Error("merging disabled adapters: no error")
				}
				m.SetEnabled(true)
				if d := maxAbsDiff(base.forward(x, 5), adapted); d > 1e-5 {
					t.Errorf("merged %v: enabled again, the output is %v from the adapted one", merged, d)
				}
			}
			if m.Adapters[0].Merged() {
				t.Error("disabling left a merged adapter merged")
			}
		})
	}
}

// Save → Load → forward equality for every variant, with the file laid out as PEFT
// lays it out: tensor names, shapes and the config fields PEFT reads.
func TestEveryVariantSavesAndLoads(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(8, 8))
			base := newToy(9)
			x := randRows(rng, 6*8)
			m := applyVariant(t, base, v, rng)
			train(m, base, rng)
			want := base.forward(x, 6)
			dir := filepath.Join(t.TempDir(), "adapter")
			if err := m.Save(dir, "toy"); err != nil {
				t.Fatal(err)
			}
			fresh := newToy(9)
			got, err := Load(dir, fresh, Options{Rng: rng})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(fresh.forward(x, 6), want); d > 1e-5 {
				t.Errorf("loaded adapters' output differs by %v", d)
			}
			if len(got.Adapters) != 3 || len(got.Embeddings) != 2 || got.Config.UseDoRA != v.dora {
				t.Errorf("loaded %d + %d adapters, dora %v", len(got.Adapters), len(got.Embeddings), got.Config.UseDoRA)
			}
			checkPEFTLayout(t, dir, v)
		})
	}
}

func checkPEFTLayout(t *testing.T, dir string, v variant) {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	r := 2
	if v.init == InitPiSSA || v.init == InitOLoRA {
		r = 4 // converted to a plain adapter of the unmodified base
	}
	want := map[string][]int{
		"base_model.model.blocks.0.attn.q.lora_A.weight":   {r, 8},
		"base_model.model.blocks.0.attn.q.lora_B.weight":   {8, r},
		"base_model.model.blocks.0.mlp.fc.lora_A.weight":   {r, 8},
		"base_model.model.blocks.0.mlp.fc.lora_B.weight":   {16, r},
		"base_model.model.blocks.0.mlp.proj.lora_A.weight": {r, 16},
		"base_model.model.blocks.0.mlp.proj.lora_B.weight": {8, r},
		"base_model.model.embed_timestep.lora_embedding_A": {r, 6},
		"base_model.model.embed_timestep.lora_embedding_B": {8, r},
		"base_model.model.embed_action.lora_embedding_A":   {r, 3},
		"base_model.model.embed_action.lora_embedding_B":   {8, r},
		"base_model.model.head.weight":                     {3, 8},
		"base_model.model.head.bias":                       {3},
	}
	if v.dora {
		for name, n := range map[string]int{"blocks.0.attn.q": 8, "blocks.0.mlp.fc": 16, "blocks.0.mlp.proj": 8, "embed_timestep": 8, "embed_action": 8} {
			want["base_model.model."+name+".lora_magnitude_vector"] = []int{n}
		}
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	if got := f.Names(); strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("tensors\n%v\nwant\n%v", got, names)
	}
	for n, shape := range want {
		if tt, ok := f.Get(n); ok && !equalShape(tt.Shape, shape) {
			t.Errorf("%s: shape %v, want %v", n, tt.Shape, shape)
		}
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["use_dora"] != v.dora {
		t.Errorf("use_dora = %v, want %v", cfg["use_dora"], v.dora)
	}
	if got, _ := json.Marshal(cfg["modules_to_save"]); string(got) != `["head"]` {
		t.Errorf("modules_to_save = %s, want [\"head\"]", got)
	}
	wantTargets := `["blocks.0.attn.q","blocks.0.mlp.fc","blocks.0.mlp.proj","embed_timestep","embed_action"]`
	if got, _ := json.Marshal(cfg["target_modules"]); string(got) != wantTargets {
		t.Errorf("target_modules = %s, want the resolved names %s", got, wantTargets)
	}
}
