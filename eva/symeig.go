package eva

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/lapack/gonum"
)

// symTop computes the k largest eigenvalues of a symmetric d×d matrix and their
// eigenvectors, which is all the exact PCA needs of its d×d scatter matrix. It is
// the path of LAPACK's dsyevx (Householder tridiagonalisation, eigenvalues of the
// tridiagonal matrix, inverse iteration for the wanted eigenvectors only,
// back-transformation), because the full symmetric eigensolver (dsyev: the QL/QR
// iteration accumulates all d eigenvectors, O(d³) rotations) costs 10–15× more at
// d = 256–512 with gonum's pure-Go LAPACK:
//
//	A = Q·T·Qᵀ          tridiag.reduce (blocked, full storage), about 2·d³ flops
//	λ(T)                Dsterf on each unreduced block of T, O(d²)
//	T·z = λ·z           inverse iteration on T − λI for the k largest, O(k·d)
//	v = Q·z             tridiag.applyQ, 2·k·d² flops
//
// The eigenvalues are those of the QL/QR iteration (backward stable); each
// eigenvector has a residual of order ε·‖A‖, and vectors of eigenvalues closer
// than 10⁻³·‖T‖ are reorthogonalised against each other, as dstein does. With
// naive set, gonum's Dsytrd and Dormqr do the reduction and back-transformation;
// the whole of it has gonum's Dsyev as its test oracle.
//
// The buffers are allocated once for d and reused.
type symTop struct {
	d     int
	naive bool
	impl  gonum.Implementation
	tri   *tridiag
	a     []float64 // d×d copy of the matrix (full), overwritten by the reduction
	diag  []float64 // (d) T's diagonal
	off   []float64 // (d−1) T's off-diagonal
	tau   []float64 // (d−1) the reflectors' scalars
	work  []float64

	// Eigenvalues of the blocks, and scratch of the inverse iteration.
	vals            []eigval
	order           []int
	bd, be          []float64 // block copies for Dsterf
	u1, u2, u3, mul []float64 // LU factors of T − λI: diagonal, two superdiagonals, multipliers
	swap            []bool
	x               []float64
	z               []float64 // d×k eigenvectors of T as columns, then of A
	rng             *rand.Rand
}

// eigval is one eigenvalue of T and the unreduced block [lo, hi) it belongs to.
type eigval struct {
	v      float64
	lo, hi int
}

func newSymTop(d int) *symTop {
	s := &symTop{
		d: d, a: make([]float64, d*d), diag: make([]float64, d), off: make([]float64, max(d-1, 1)),
		tau: make([]float64, max(d-1, 1)), bd: make([]float64, d), be: make([]float64, d),
		u1: make([]float64, d), u2: make([]float64, d), u3: make([]float64, d), mul: make([]float64, d),
		swap: make([]bool, d), x: make([]float64, d),
		// The start vectors of inverse iteration: a fixed stream, as LAPACK's dstein
		// uses fixed seeds. Any start vector with a component along the eigenvector
		// gives the same result to rounding, so this is not a random draw of the pass.
		rng: rand.New(rand.NewPCG(0x65766121, 0x73796d)),
	}
	query := []float64{0}
	s.impl.Dsytrd(blas.Lower, d, s.a, d, s.diag, s.off[:max(d-1, 0)], s.tau[:max(d-1, 0)], query, -1)
	lwork := int(query[0])
	if d > 1 {
		s.impl.Dormqr(blas.Left, blas.NoTrans, d-1, d, d-1, s.a[d:], d, s.tau, s.a, d, query, -1)
		lwork = max(lwork, int(query[0]))
	}
	s.work = make([]float64, max(lwork, 1))
	s.tri = newTridiag(d)
	return s
}

// top computes the k largest eigenvalues of the symmetric matrix whose lower
// triangle m holds (d×d row-major; m is not modified) into vals (descending) and
// their unit eigenvectors into the rows of vecs (k×d). It reports false when the
// QL/QR iteration or the inverse iteration did not converge.
func (s *symTop) top(m []float64, k int, vals, vecs []float64) bool {
	d := s.d
	// The full matrix from its lower triangle.
	for i := 0; i < d; i++ {
		copy(s.a[i*d:i*d+i+1], m[i*d:i*d+i+1])
		for j := i + 1; j < d; j++ {
			s.a[i*d+j] = m[j*d+i]
		}
	}
	if d == 1 {
		vals[0], vecs[0] = s.a[0], 1
		return true
	}
	if s.naive {
		s.impl.Dsytrd(blas.Lower, d, s.a, d, s.diag, s.off[:d-1], s.tau[:d-1], s.work, len(s.work))
	} else {
		s.tri.reduce(s.a, s.diag, s.off[:d-1])
	}

	// Split T where an off-diagonal entry is negligible (the criterion of LAPACK's
	// dstebz/dsteqr) and take each block's eigenvalues.
	const eps = 0x1p-53
	s.vals = s.vals[:0]
	lo := 0
	for i := 0; i < d; i++ {
		if i < d-1 && math.Abs(s.off[i]) > eps*math.Sqrt(math.Abs(s.diag[i]))*math.Sqrt(math.Abs(s.diag[i+1])) {
			continue
		}
		if i < d-1 {
			s.off[i] = 0
		}
		hi := i + 1
		n := hi - lo
		copy(s.bd, s.diag[lo:hi])
		copy(s.be, s.off[lo:max(hi-1, lo)])
		if !s.impl.Dsterf(n, s.bd[:n], s.be[:max(n-1, 0)]) {
			return false
		}
		for _, v := range s.bd[:n] {
			s.vals = append(s.vals, eigval{v, lo, hi})
		}
		lo = hi
	}
	// The k largest, descending; ties by block order (a stable sort of the blocks'
	// ascending lists keeps it deterministic).
	slices.SortStableFunc(s.vals, func(a, b eigval) int {
		switch {
		case a.v > b.v:
			return -1
		case a.v < b.v:
			return 1
		}
		return 0
	})
	sel := s.vals[:k]

	// Eigenvectors of T: z_j (column j of the d×k matrix z), zero outside its block.
	if cap(s.z) < d*k {
		s.z = make([]float64, d*k)
	}
	z := s.z[:d*k]
	clear(z)
	// Within a block, process the selected eigenvalues in ascending order as dstein
	// does; done[j] marks the columns already computed.
	if cap(s.order) < k {
		s.order = make([]int, k)
	}
	order := s.order[:k]
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if sel[a].lo != sel[b].lo {
			return sel[a].lo - sel[b].lo
		}
		switch {
		case sel[a].v < sel[b].v:
			return -1
		case sel[a].v > sel[b].v:
			return 1
		}
		return 0
	})
	for g := 0; g < k; {
		lo, hi := sel[order[g]].lo, sel[order[g]].hi
		e := g
		for e < k && sel[order[e]].lo == lo {
			e++
		}
		if !s.blockVectors(lo, hi, sel, order[g:e], z, k) {
			return false
		}
		g = e
	}

	// Back to A's basis: z ← Q·z. (Naive: Q = diag(1, Q') with Q' the product of
	// Dsytrd's reflectors, stored in the standard QR layout in A[1:d, 0:d−1].)
	if s.naive {
		s.impl.Dormqr(blas.Left, blas.NoTrans, d-1, k, d-1, s.a[d:], d, s.tau[:d-1], z[k:], k, s.work, len(s.work))
	} else {
		s.tri.applyQ(k, z)
	}
	for j := 0; j < k; j++ {
		vals[j] = sel[j].v
		row := vecs[j*d : (j+1)*d]
		for i := range row {
			row[i] = z[i*k+j]
		}
	}
	return true
}

// blockVectors runs inverse iteration for the eigenvalues sel[cols[i]] (ascending)
// of the unreduced block [lo, hi) of T, writing each unit eigenvector into column
// cols[i] of z (d×k). Vectors of eigenvalues within 10⁻³·‖T_block‖₁ of their
// neighbour form a cluster and are reorthogonalised against the cluster's earlier
// vectors (modified Gram–Schmidt); close eigenvalues are first pulled apart by
// 10·ε·|λ| so that each gets its own shift.
func (s *symTop) blockVectors(lo, hi int, sel []eigval, cols []int, z []float64, k int) bool {
	n := hi - lo
	dg, of := s.diag[lo:hi], s.off[lo:max(hi-1, lo)]
	if n == 1 {
		for _, c := range cols {
			z[lo*k+c] = 1
		}
		return true
	}
	const eps = 0x1p-53
	// ‖T_block‖₁
	var norm float64
	for i := 0; i < n; i++ {
		r := math.Abs(dg[i])
		if i > 0 {
			r += math.Abs(of[i-1])
		}
		if i < n-1 {
			r += math.Abs(of[i])
		}
		norm = max(norm, r)
	}
	ortol := 1e-3 * norm
	stop := math.Sqrt(0.1 / float64(n)) // dstein's growth criterion
	x := s.x[:n]
	prev, clusterStart := 0.0, 0
	for ci, c := range cols {
		lambda := sel[c].v
		if ci > 0 {
			if pert := 10 * math.Abs(eps*lambda); lambda-prev < pert {
				lambda = prev + pert
			}
			if lambda-prev > ortol {
				clusterStart = ci
			}
		}
		prev = lambda
		for i := range x {
			x[i] = 2*s.rng.Float64() - 1
		}
		tol := s.factor(n, dg, of, lambda, norm)
		converged, extra := false, 0
		for it := 0; it < 5+2 && !converged; it++ {
			// Scale the right-hand side so that the solve of the nearly singular
			// system grows it to order one instead of overflowing.
			var sum float64
			for _, v := range x {
				sum += math.Abs(v)
			}
			scale := float64(n) * norm * max(eps, math.Abs(s.u1[n-1])) / sum
			for i := range x {
				x[i] *= scale
			}
			s.solve(n, x, tol)
			// Reorthogonalise against the cluster's earlier vectors.
			for _, p := range cols[clusterStart:ci] {
				var dot float64
				for i := range x {
					dot += x[i] * z[(lo+i)*k+p]
				}
				for i := range x {
					x[i] -= dot * z[(lo+i)*k+p]
				}
			}
			var big float64
			for _, v := range x {
				big = max(big, math.Abs(v))
			}
			if big >= stop {
				extra++
				converged = extra > 2
			}
			if !converged && it == 5+2-1 {
				return false
			}
		}
		var nrm float64
		for _, v := range x {
			nrm += v * v
		}
		nrm = math.Sqrt(nrm)
		for i, v := range x {
			z[(lo+i)*k+c] = v / nrm
		}
	}
	return true
}

// factor computes the LU factorisation with partial pivoting of the n×n
// tridiagonal T − λI (diagonal dg − λ, off-diagonal of) as Gaussian elimination
// does it (LAPACK's dgttrf): U has the diagonal u1 and superdiagonals u2, u3 (u3 is
// non-zero only where rows were swapped), mul holds the multipliers and swap the
// interchanges. It returns the pivot tolerance for solve: pivots smaller than it
// are replaced by it, which is how inverse iteration copes with the exact
// singularity it aims for.
func (s *symTop) factor(n int, dg, of []float64, lambda, norm float64) float64 {
	u1, u2, u3, mul, swap := s.u1[:n], s.u2[:n], s.u3[:n], s.mul[:n], s.swap[:n]
	for i := 0; i < n; i++ {
		u1[i] = dg[i] - lambda
		u3[i] = 0
		if i < n-1 {
			u2[i] = of[i]
		}
	}
	for i := 0; i < n-1; i++ {
		sub := of[i] // row i+1, column i
		if math.Abs(u1[i]) >= math.Abs(sub) {
			swap[i] = false
			if u1[i] != 0 {
				mul[i] = sub / u1[i]
			} else {
				mul[i] = 0
			}
			u1[i+1] -= mul[i] * u2[i]
		} else {
			// Rows i and i+1 trade places: row i+1 = (sub, u1[i+1], of[i+1]).
			swap[i] = true
			mul[i] = u1[i] / sub
			u1[i] = sub
			t := u1[i+1]
			u1[i+1] = u2[i] - mul[i]*t
			if i < n-2 {
				u3[i] = of[i+1]
				u2[i+1] = -mul[i] * u3[i]
			}
			u2[i] = t
		}
	}
	const eps = 0x1p-53
	return eps * norm
}

// solve overwrites b with the solution of (T − λI)·x = b from factor's output,
// replacing pivots smaller in magnitude than tol by ±tol.
func (s *symTop) solve(n int, b []float64, tol float64) {
	u1, u2, u3, mul, swap := s.u1[:n], s.u2[:n], s.u3[:n], s.mul[:n], s.swap[:n]
	for i := 0; i < n-1; i++ {
		if swap[i] {
			b[i], b[i+1] = b[i+1], b[i]
		}
		b[i+1] -= mul[i] * b[i]
	}
	piv := func(v float64) float64 {
		if math.Abs(v) >= tol {
			return v
		}
		if v < 0 {
			return -tol
		}
		return tol
	}
	for i := n - 1; i >= 0; i-- {
		v := b[i]
		if i < n-1 {
			v -= u2[i] * b[i+1]
		}
		if i < n-2 {
			v -= u3[i] * b[i+2]
		}
		b[i] = v / piv(u1[i])
	}
}
