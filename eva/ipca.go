package eva

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// IPCA is incremental principal component analysis over a stream of row batches, the
// algorithm of scikit-learn's IncrementalPCA (Ross et al. 2008, with the mean and
// variance update of Chan, Golub and LeVeque 1982) as PEFT adapts it for EVA
// (peft/utils/incremental_pca.py). It keeps only K components, so memory is
// O(K·D) however many rows stream through.
//
// All statistics are float64; batches arrive as float32 rows.
type IPCA struct {
	// Estimate holds the sizes, the running mean and variance, and the K components
	// with their singular values and explained variances after the last update.
	Estimate

	// LowRankQ, when > 0, replaces the full SVD by the randomized one PEFT's EVA uses
	// (svdLowRank with LowRankQ ≥ K columns and LowRankIters iterations); it falls
	// back to the full SVD when LowRankQ ≥ min(rows, D). Rng draws its test matrix.
	LowRankQ int
	Rng      *rand.Rand

	// buffers reused across updates
	stack, vt, work []float64
	s               []float64
	batchMean       []float64 // (5, D): batch mean, variance, correction, new mean, new variance
}

// NewIPCA returns an empty IPCA keeping k components of d-dimensional rows. k must be
// in [1, d]: a programming error otherwise (callers validate user input first).
func NewIPCA(k, d int) *IPCA {
	if k < 1 || k > d {
		panic(fmt.Sprintf("eva: IPCA with %d components of %d features: want 1 ≤ k ≤ d", k, d))
	}
	return &IPCA{Estimate: Estimate{K: k, D: d, Mean: make([]float64, d), Var: make([]float64, d)}}
}

// Fitted reports whether at least one batch has been folded in.
func (p *IPCA) Fitted() bool { return p.Components != nil }

func (p *IPCA) estimate() *Estimate { return &p.Estimate }

// PartialFit folds n rows of x (n×D, row-major float32) into the estimate. A batch
// with fewer than K rows cannot be fitted (PEFT skips it too): PartialFit then
// leaves the state unchanged and returns false. Non-finite values are an error (the
// state is left unchanged).
func (p *IPCA) PartialFit(x []float32, n int) (bool, error) {
	d := p.D
	if len(x) != n*d {
		panic(fmt.Sprintf("eva: IPCA batch of %d values for %d rows of %d features", len(x), n, d))
	}
	if n < p.K {
		return false, nil
	}
	if err := checkFinite(x, d); err != nil {
		return false, err
	}
	first := !p.Fitted()

	// Running mean and variance (Chan et al.), exactly as sklearn's
	// _incremental_mean_and_var: sums in float64, population variance.
	if p.batchMean == nil {
		p.batchMean = make([]float64, 5*d)
	}
	bm := p.batchMean[:d]
	newVar, corr, newMean, newVarT := p.batchMean[d:2*d], p.batchMean[2*d:3*d], p.batchMean[3*d:4*d], p.batchMean[4*d:]
	clear(p.batchMean)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		for j, v := range row {
			bm[j] += float64(v)
		}
	}
	// bm holds the new column sums for now.
	nNew := float64(n)
	nOld := float64(p.Seen)
	nTot := nOld + nNew
	// Unnormalised batch variance Σ(x−t)² − (Σ(x−t))²/n about the batch mean t,
	// accumulated row by row.
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		for j, v := range row {
			c := float64(v) - bm[j]/nNew
			corr[j] += c
			newVar[j] += c * c
		}
	}
	for j := range newVar {
		newVar[j] -= corr[j] * corr[j] / nNew
	}
	// The new mean and variance are committed only once the SVD succeeded.
	for j := 0; j < d; j++ {
		lastSum := p.Mean[j] * nOld
		newSum := bm[j]
		if first {
			newVarT[j] = newVar[j] / nTot
		} else {
			lastUnnorm := p.Var[j] * nOld
			ratio := nOld / nNew
			diff := lastSum/ratio - newSum
			newVarT[j] = (lastUnnorm + newVar[j] + ratio/nTot*diff*diff) / nTot
		}
		newMean[j] = (lastSum + newSum) / nTot
		bm[j] = newSum / nNew // now the batch mean
	}

	// The matrix to decompose: the centred batch, and after the first batch the
	// previous components scaled by their singular values above it and the mean
	// correction row below it.
	k := 0
	if !first {
		k = p.K
	}
	rows := k + n
	if !first {
		rows++
	}
	if cap(p.stack) < rows*d {
		p.stack = make([]float64, rows*d)
	}
	a := p.stack[:rows*d]
	for i := 0; i < k; i++ {
		s := p.Singular[i]
		src := p.Components[i*d : (i+1)*d]
		dst := a[i*d : (i+1)*d]
		for j, v := range src {
			dst[j] = s * v
		}
	}
	for i := 0; i < n; i++ {
		src := x[i*d : (i+1)*d]
		dst := a[(k+i)*d : (k+i+1)*d]
		for j, v := range src {
			dst[j] = float64(v) - bm[j]
		}
	}
	if !first {
		f := math.Sqrt(nOld / nTot * nNew)
		dst := a[(k+n)*d : (k+n+1)*d]
		for j := range dst {
			dst[j] = f * (p.Mean[j] - bm[j])
		}
	}

	m := min(rows, d)
	if cap(p.vt) < m*d {
		p.vt = make([]float64, m*d)
		p.s = make([]float64, m)
	}
	vt, s := p.vt[:m*d], p.s[:m]
	if p.LowRankQ > 0 && p.LowRankQ < m {
		m = p.LowRankQ
		vt, s = vt[:m*d], s[:m]
		if !svdLowRank(rows, d, m, LowRankIters, a, p.Rng, s, vt) {
			return false, fmt.Errorf("eva: low-rank SVD of a %d×%d matrix did not converge", rows, d)
		}
	} else if !svdVt(rows, d, a, s, vt, &p.work) {
		return false, fmt.Errorf("eva: SVD of a %d×%d matrix did not converge", rows, d)
	}

	// Sign convention: the largest-magnitude entry of each right-singular vector is
	// positive.
	flipSigns(vt, m, d)

	copy(p.Mean, newMean)
	copy(p.Var, newVarT)
	var total float64
	for _, v := range p.Var {
		total += v * nTot
	}
	p.init()
	copy(p.Components, vt[:p.K*d])
	for i := 0; i < p.K; i++ {
		sv := s[i]
		p.Singular[i] = sv
		p.ExplainedVariance[i] = sv * sv / (nTot - 1)
		if total > 0 {
			p.ExplainedVarianceRatio[i] = sv * sv / total
		} else {
			p.ExplainedVarianceRatio[i] = 0
		}
	}
	p.Seen += n
	return true, nil
}

// svdVt computes the singular values s (descending) and the thin right-singular
// vectors vt (min(m,n)×n, rows) of the m×n row-major matrix a with LAPACK's dgesvd
// (gonum's pure-Go implementation); a is overwritten. work is grown as needed and
// kept for the next call. It reports false when the QR iteration did not converge.
func svdVt(m, n int, a, s, vt []float64, work *[]float64) bool {
	k := min(m, n)
	A := blas64.General{Rows: m, Cols: n, Stride: n, Data: a}
	U := blas64.General{Rows: 1, Cols: 1, Stride: 1, Data: []float64{0}}
	VT := blas64.General{Rows: k, Cols: n, Stride: n, Data: vt}
	query := []float64{0}
	lapack64.Gesvd(lapack.SVDNone, lapack.SVDStore, A, U, VT, s, query, -1)
	lwork := int(query[0])
	if cap(*work) < lwork {
		*work = make([]float64, lwork)
	}
	return lapack64.Gesvd(lapack.SVDNone, lapack.SVDStore, A, U, VT, s, (*work)[:lwork], lwork)
}
