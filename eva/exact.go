package eva

import (
	"fmt"
	"math"

	"github.com/evarl/evarl/nn"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Estimate is what a PCA of a layer's input reports after each update; both methods
// (IPCA, ExactPCA) fill it with the same meaning, so convergence, redistribution
// and the state file do not depend on the method.
type Estimate struct {
	K int // number of components kept (n_components)
	D int // number of features (columns)

	// Seen is the number of rows folded in so far.
	Seen int
	// Mean and Var are the running column mean and population variance (length D).
	Mean, Var []float64
	// Components holds the K principal directions as rows (K×D, row-major), unit
	// norm, in order of decreasing variance, each with its largest-magnitude entry
	// positive. Nil before the first update.
	Components []float64
	// Singular holds the K singular values of the centred data seen so far.
	Singular []float64
	// ExplainedVariance is Singular² / (Seen − 1).
	ExplainedVariance []float64
	// ExplainedVarianceRatio is Singular² / (Σ Var · Seen): the share of the total
	// input variance each component explains.
	ExplainedVarianceRatio []float64
}

// init allocates the result slices on the first update.
func (e *Estimate) init() {
	if e.Components == nil {
		e.Components = make([]float64, e.K*e.D)
		e.Singular = make([]float64, e.K)
		e.ExplainedVariance = make([]float64, e.K)
		e.ExplainedVarianceRatio = make([]float64, e.K)
	}
}

// flipSigns applies the sign convention to the first m rows of the row-major m×d
// matrix v: the largest-magnitude entry of each row is made positive (sklearn's
// svd_flip with u_based_decision=False; the first maximum wins).
func flipSigns(v []float64, m, d int) {
	for i := 0; i < m; i++ {
		row := v[i*d : (i+1)*d]
		best := 0
		for j, x := range row {
			if math.Abs(x) > math.Abs(row[best]) {
				best = j
			}
		}
		if row[best] < 0 {
			for j := range row {
				row[j] = -row[j]
			}
		}
	}
}

// checkFinite reports the first non-finite value of the row-major rows x.
func checkFinite(x []float32, d int) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("eva: activation row %d column %d is %v; want finite values", i/d, i%d, v)
		}
	}
	return nil
}

// ExactPCA is the exact streaming PCA: it accumulates, in float64, the column mean
// and the D×D scatter matrix Σ (x − mean)(x − mean)ᵀ of every row folded in, and
// after each minibatch takes the K leading eigenvectors of the scatter matrix. Its
// components are therefore those of a batch PCA of all rows seen so far (to
// rounding), whatever the batch sizes and order, unlike IPCA, which keeps only K
// directions between updates and drifts from the batch PCA.
//
// A minibatch X (n rows, batch mean m) is merged with the pairwise update of Chan,
// Golub and LeVeque (1982), which never forms uncentred sums, so it stays accurate
// when the mean is large against the spread:
//
//	δ = m − mean;  N' = N + n
//	M2 ← M2 + (X − m)ᵀ(X − m) + (N·n/N')·δ·δᵀ      Dsyrk, Dsyr
//	mean ← mean + (n/N')·δ
//
// The eigenvalues λ_j of M2 are the squared singular values of the centred data,
// so Singular = √λ, ExplainedVariance = λ/(N − 1) and ExplainedVarianceRatio =
// λ / trace(M2), exactly as IPCA reports them. Memory is O(D²); an update costs
// n·D² (the product) plus about 4/3·D³ (the tridiagonal reduction of symTop).
//
// As IPCA (and PEFT), a minibatch with fewer rows than K is skipped.
type ExactPCA struct {
	Estimate
	// Scatter is M2 (D×D, row-major; the lower triangle is kept).
	Scatter []float64
	// Kernels, when non-nil, compute the scatter update and the eigenvectors
	// (OpenBLAS's dsyrk_ and dsyevr_, from nn.Float64KernelsOf); nil uses gonum's
	// Dsyrk and symTop. Both give the batch PCA to rounding. Set it before the first
	// PartialFit.
	Kernels nn.Float64Kernels

	next     []float64 // the updated scatter, committed once the eigensolver succeeds
	xc       []float64 // (n, D) the centred minibatch
	bm, mean []float64
	vals     []float64
	comps    []float64 // (K, D) the new components, committed with the scatter
	eig      *symTop   // for the width of the last decomposition below kernelEigenMinD
	scratch  []float64 // the matrix Kernels.TopEigen overwrites
	active   []int     // the features with a non-zero scatter diagonal
	sub      []float64 // the scatter restricted to them (lower triangle)
	subComps []float64 // (K, len(active)) its leading eigenvectors
}

// NewExactPCA returns an empty ExactPCA keeping k components of d-dimensional rows.
// k must be in [1, d]: a programming error otherwise.
func NewExactPCA(k, d int) *ExactPCA {
	if k < 1 || k > d {
		panic(fmt.Sprintf("eva: exact PCA with %d components of %d features: want 1 ≤ k ≤ d", k, d))
	}
	return &ExactPCA{
		Estimate: Estimate{K: k, D: d, Mean: make([]float64, d), Var: make([]float64, d)},
		Scatter:  make([]float64, d*d), next: make([]float64, d*d),
		bm: make([]float64, d), mean: make([]float64, d), vals: make([]float64, k), comps: make([]float64, k*d),
	}
}

// kernelEigenMinD is the narrowest scatter matrix whose eigenvectors go to
// Kernels.TopEigen rather than symTop. BenchmarkExactPCAKernels (8 eigenpairs,
// OpenBLAS 0.3.21 with one thread, medians of 3 on the 2-core development machine):
// dsyevr against symTop 0.24 vs 0.20 ms at d = 64, 0.41 vs 0.46 at 96, 0.60 vs 0.92
// at 128, 1.30 vs 2.69 at 204, 1.98 vs 4.63 at 256. With 16 eigenpairs (rho 2)
// the crossover moves up: 0.41 vs 0.24 at 64, 0.67 vs 0.52 at 96, 0.97 vs 0.97 at
// 128, 1.88 vs 2.76 at 204, 2.70 vs 5.06 at 256. The threshold stays where it is:
// moving it to 128 would change, at the rounding level, the components of every
// input with 96–127 varying features (the gridworld state has about 117), and so
// EVA states computed so far, to save at most 0.15 ms a decomposition.
const kernelEigenMinD = 96

// topEigen writes the K leading eigenpairs of the updated scatter into vals and
// comps.
//
// Features that have not varied in any row seen (a zero diagonal entry: every
// centred value of the column is exactly 0, so its row and column of the scatter
// are exactly 0) are left out of the eigendecomposition: the matrix is block
// diagonal with a zero block there, so the leading eigenvectors are those of the
// other block with zeros in these places. Observations often have such features
// (87 of the gridworld state's 204 in the quickstart's rollouts), and the
// eigensolver's cost grows with the cube of the width. The zeros come out exact,
// where the full decomposition leaves rounding noise of order 1e-16.
func (p *ExactPCA) topEigen() bool {
	d, k := p.D, p.K
	p.active = p.active[:0]
	for j := 0; j < d; j++ {
		if p.next[j*d+j] != 0 {
			p.active = append(p.active, j)
		}
	}
	m := len(p.active)
	if m == d || m < k {
		return p.eigen(p.next, d, p.comps)
	}
	p.sub = growFloat64(p.sub, m*m)
	for a, ja := range p.active {
		row := p.next[ja*d:]
		for b, jb := range p.active[:a+1] {
			p.sub[a*m+b] = row[jb]
		}
	}
	p.subComps = growFloat64(p.subComps, k*m)
	if !p.eigen(p.sub, m, p.subComps) {
		return false
	}
	clear(p.comps)
	for i := 0; i < k; i++ {
		for a, j := range p.active {
			p.comps[i*d+j] = p.subComps[i*m+a]
		}
	}
	return true
}

// eigen writes the K leading eigenpairs of the w×w matrix whose lower triangle a
// holds into vals and vecs (K×w): with Kernels from kernelEigenMinD on, else with
// a symTop of that width.
func (p *ExactPCA) eigen(a []float64, w int, vecs []float64) bool {
	if p.Kernels != nil && w >= kernelEigenMinD {
		p.scratch = append(p.scratch[:0], a[:w*w]...)
		return p.Kernels.TopEigen(p.scratch, w, p.K, p.vals, vecs)
	}
	if p.eig == nil || p.eig.d != w {
		p.eig = newSymTop(w)
	}
	return p.eig.top(a[:w*w], p.K, p.vals, vecs)
}

func growFloat64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// Fitted reports whether at least one batch has been folded in.
func (p *ExactPCA) Fitted() bool { return p.Components != nil }

func (p *ExactPCA) estimate() *Estimate { return &p.Estimate }

// PartialFit folds n rows of x (n×D, row-major float32) into the estimate and
// recomputes the components. A batch with fewer than K rows is skipped (false, the
// state unchanged); non-finite values are an error (the state unchanged).
func (p *ExactPCA) PartialFit(x []float32, n int) (bool, error) {
	d := p.D
	if len(x) != n*d {
		panic(fmt.Sprintf("eva: exact PCA batch of %d values for %d rows of %d features", len(x), n, d))
	}
	if n < p.K {
		return false, nil
	}
	// Batch mean, then the centred batch in float64. A non-finite activation makes
	// its column's sum non-finite (float32 values cannot overflow a float64 sum of
	// this length), so only then are the rows searched for it.
	bm := p.bm
	clear(bm)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			bm[j] += float64(v)
		}
	}
	for _, v := range bm {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false, checkFinite(x, d)
		}
	}
	nNew, nOld := float64(n), float64(p.Seen)
	nTot := nOld + nNew
	for j := range bm {
		bm[j] /= nNew
	}
	if cap(p.xc) < n*d {
		// Minibatches differ in their number of kept rows; the headroom spares
		// reallocating for each new largest one.
		p.xc = make([]float64, n*d, n*d+n*d/4)
	}
	xc := p.xc[:n*d]
	for i := 0; i < n; i++ {
		src, dst := x[i*d:(i+1)*d], xc[i*d:(i+1)*d]
		for j, v := range src {
			dst[j] = float64(v) - bm[j]
		}
	}

	// M2' = M2 + Xcᵀ·Xc + (N·n/N')·δ·δᵀ and mean' = mean + (n/N')·δ.
	copy(p.next, p.Scatter)
	S := blas64.Symmetric{N: d, Stride: d, Uplo: blas.Lower, Data: p.next}
	if p.Kernels != nil {
		p.Kernels.AddScatter(xc, n, d, p.next)
	} else {
		blas64.Syrk(blas.Trans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: xc}, 1, S)
	}
	delta := p.mean
	for j := range delta {
		delta[j] = bm[j] - p.Mean[j]
	}
	if nOld > 0 {
		blas64.Syr(nOld*nNew/nTot, blas64.Vector{N: d, Inc: 1, Data: delta}, S)
	}

	if !p.topEigen() {
		return false, fmt.Errorf("eva: the eigendecomposition of a %d×%d scatter matrix did not converge", d, d)
	}
	// Commit.
	p.init()
	copy(p.Components, p.comps)
	p.Scatter, p.next = p.next, p.Scatter
	for j := range p.Mean {
		p.Mean[j] += nNew / nTot * delta[j]
	}
	p.Seen += n
	var trace float64
	for j := 0; j < d; j++ {
		v := p.Scatter[j*d+j]
		p.Var[j] = v / nTot
		trace += v
	}
	flipSigns(p.Components, p.K, d)
	for i, lambda := range p.vals {
		lambda = max(lambda, 0) // rounding can leave a null direction slightly negative
		p.Singular[i] = math.Sqrt(lambda)
		p.ExplainedVariance[i] = lambda / (nTot - 1)
		if trace > 0 {
			p.ExplainedVarianceRatio[i] = lambda / trace
		} else {
			p.ExplainedVarianceRatio[i] = 0
		}
	}
	return true, nil
}
