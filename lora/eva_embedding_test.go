package lora

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The package doc's claims about one-hot inputs, checked with gonum's LAPACK: the
// right-singular vectors of a matrix of one-hot rows are the basis vectors e_id,
// ordered by how often id occurs, with singular values √count; and the centred
// covariance of uniformly distributed ids has the null vector 1 and one eigenvalue
// 1/N of multiplicity N − 1, so its principal directions are not determined.
func TestOneHotPrincipalDirections(t *testing.T) {
	counts := []float64{5, 9, 1, 0, 7, 2}
	N := len(counts)
	var rows []float64
	for id, c := range counts {
		for k := 0; k < int(c); k++ {
			row := make([]float64, N)
			row[id] = 1
			rows = append(rows, row...)
		}
	}
	X := mat.NewDense(len(rows)/N, N, rows)
	var svd mat.SVD
	if !svd.Factorize(X, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	var v mat.Dense
	svd.VTo(&v)
	s := svd.Values(nil)
	order := frequencyOrder(counts)
	for j, id := range order[:N-1] { // the last id has count 0: singular value 0
		if math.Abs(s[j]-math.Sqrt(counts[id])) > 1e-12 {
			t.Errorf("singular value %d = %v, want √%v", j, s[j], counts[id])
		}
		for i := 0; i < N; i++ {
			want := 0.0
			if i == id {
				want = 1
			}
			if math.Abs(math.Abs(v.At(i, j))-want) > 1e-12 {
				t.Fatalf("right-singular vector %d = %v, want ±e_%d", j, mat.Formatted(v.ColView(j).T()), id)
			}
		}
	}

	// Uniform ids: Σ = diag(p) − p·pᵀ with p = 1/N.
	const n = 4
	cov := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			c := -1.0 / (n * n)
			if i == j {
				c += 1.0 / n
			}
			cov.SetSym(i, j, c)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		t.Fatal("eigendecomposition failed")
	}
	vals := eig.Values(nil) // ascending
	if math.Abs(vals[0]) > 1e-12 {
		t.Errorf("smallest eigenvalue %v, want 0 (the all-ones direction)", vals[0])
	}
	for _, l := range vals[1:] {
		if math.Abs(l-1.0/n) > 1e-12 {
			t.Errorf("eigenvalues %v, want 0 and 1/%d × %d", vals, n, n-1)
		}
	}
}

func TestEVAEmbeddingInit(t *testing.T) {
	for _, rs := range []bool{false, true} {
		base := newToy(11)
		x := randRows(rand.New(rand.NewPCG(1, 1)), 6*8)
		want := base.forward(x, 6)
		cfg := DefaultConfig()
		cfg.R, cfg.Alpha, cfg.Init, cfg.UseRSLoRA = 4, 8, InitEVA, rs
		cfg.TargetModules = []string{PresetEmbeddings}
		counts := map[string][]float64{"embed_timestep": {5, 9, 1, 0, 9, 2}, "embed_action": {0, 4, 2}}
		m, err := Apply(base, cfg, Options{EvaCounts: counts})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(base.forward(x, 6), want); d != 0 {
			t.Errorf("rslora %v: EVA-initialised tables move the output by %v", rs, d)
		}
		nominal := float32(cfg.Scale(4, 8))
		for _, tc := range []struct {
			table string
			rank  int
			rows  []int // the id of A's row j
		}{
			{"embed_timestep", 4, []int{1, 4, 0, 5}}, // by count, ties to the smaller id
			{"embed_action", 3, []int{1, 2, 0}},      // rank capped at N = 3; the unseen id comes last
		} {
			a, ok := m.Embedding(tc.table)
			if !ok {
				t.Fatalf("no adapter on %s", tc.table)
			}
			if a.R != tc.rank || math.Abs(float64(a.Scale-nominal)) > 1e-6 {
				t.Errorf("%s: rank %d scale %v, want rank %d and the nominal scale %v", tc.table, a.R, a.Scale, tc.rank, nominal)
			}
			N := a.Layer.N
			for j, id := range tc.rows {
				for i := 0; i < N; i++ {
					want := float32(0)
					if i == id {
						want = 1
					}
					if a.A.Data[j*N+i] != want {
						t.Fatalf("%s: lora_embedding_A row %d = %v, want e_%d", tc.table, j, a.A.Data[j*N:(j+1)*N], id)
					}
				}
			}
			for _, v := range a.B.Data {
				if v != 0 {
					t.Fatalf("%s: lora_embedding_B not zero", tc.table)
				}
			}
		}
		// The capped rank and its alpha are recorded, so the file loads as saved.
		perturbB(m, rand.New(rand.NewPCG(2, 2)))
		trained := base.forward(x, 6)
		dir := filepath.Join(t.TempDir(), "eva")
		if err := m.Save(dir, "toy"); err != nil {
			t.Fatal(err)
		}
		fc, _, err := ReadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fc.RankPattern["embed_action"] != 3 || fc.Init != InitEVA {
			t.Errorf("saved rank_pattern %v init %q, want embed_action: 3 and eva", fc.RankPattern, fc.Init)
		}
		fresh := newToy(11)
		if _, err := Load(dir, fresh, Options{}); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(fresh.forward(x, 6), trained); d > 1e-6 {
			t.Errorf("loaded EVA table adapters differ by %v", d)
		}
	}

	tests := []struct {
		name   string
		counts map[string][]float64
		want   string
	}{
		{"missing", map[string][]float64{"embed_timestep": {1, 1, 1, 1, 1, 1}}, "embed_action has rank 3 but no EVA id counts"},
		{"wrong length", map[string][]float64{"embed_timestep": {1, 1}, "embed_action": {1, 1, 1}}, "2 id counts; want one per table row (6)"},
		{"negative", map[string][]float64{"embed_timestep": {1, 1, 1, 1, 1, -1}, "embed_action": {1, 1, 1}}, "count[5] = -1"},
		{"never looked up", map[string][]float64{"embed_timestep": make([]float64, 6), "embed_action": {1, 1, 1}}, "never looked up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Init, cfg.TargetModules = InitEVA, []string{"embed_timestep", "embed_action"}
			base := newToy(11)
			_, err := Apply(base, cfg, Options{EvaCounts: tt.counts})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			for _, e := range base.tables {
				if e.Adapter != nil || !e.W.Trainable() {
					t.Fatalf("refused Apply left %s adapted or frozen", e.Name)
				}
			}
		})
	}
}
