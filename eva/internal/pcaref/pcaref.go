// Package pcaref is the reference the eva tests hold both PCA methods to: every row
// centred in float64 and a full SVD from gonum's LAPACK (mat.SVD), with package
// eva's sign convention (each component's entry of largest magnitude positive).
// It is independent of eva's own eigensolver and scatter updates, and used only by
// tests and benchmarks.
package pcaref

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"
)

// PCA is the batch PCA of n rows of width d.
type PCA struct {
	// Components are the right-singular vectors, largest first, one per row of the
	// SVD's V (min(n, d) of them).
	Components [][]float64
	// Ratios are the explained-variance ratios S²ᵢ / Σ S², one per component.
	Ratios []float64
	// Mean and Variance are the column means and population variances.
	Mean, Variance []float64
}

// Fit centres the n×d rows x (row-major) and factorises them.
func Fit(x []float32, n, d int) (*PCA, error) {
	if n < 1 || d < 1 || len(x) != n*d {
		return nil, errors.New("pcaref: want n·d values with n, d ≥ 1")
	}
	p := &PCA{Mean: make([]float64, d), Variance: make([]float64, d)}
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			p.Mean[j] += float64(x[i*d+j])
		}
	}
	for j := range p.Mean {
		p.Mean[j] /= float64(n)
	}
	a := mat.NewDense(n, d, nil)
	var total float64
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			v := float64(x[i*d+j]) - p.Mean[j]
			a.Set(i, j, v)
			p.Variance[j] += v * v / float64(n)
			total += v * v
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThinV) {
		return nil, errors.New("pcaref: the SVD did not converge")
	}
	s := svd.Values(nil)
	var v mat.Dense
	svd.VTo(&v)
	for c := range s {
		col := mat.Col(nil, c, &v)
		best := 0
		for j := range col {
			if math.Abs(col[j]) > math.Abs(col[best]) {
				best = j
			}
		}
		if col[best] < 0 {
			for j := range col {
				col[j] = -col[j]
			}
		}
		p.Components = append(p.Components, col)
		p.Ratios = append(p.Ratios, s[c]*s[c]/total)
	}
	return p, nil
}
