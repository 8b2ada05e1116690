package eva

import "sort"

// redistribute assigns ranks from pooled explained-variance ratios, as PEFT's
// _get_rank_distribution does.
//
//   - ratios[i] are layer i's explained-variance ratios in decreasing order (a layer
//     that shares its owner's PCA passes the owner's ratios);
//   - maxComp[i] bounds how many of them layer i may offer (round(r_i·rho));
//   - budget is Σ r_i over all layers;
//   - owner[i] is the index of the layer whose PCA layer i uses (i itself when none).
//
// The budget largest values of the pool are kept and a layer's rank is how many of
// its values were kept. Ties are broken deterministically: by layer order, then by
// component order, so an owner wins ties against the layers that share its PCA
// (their values are identical). Finally, within a shared group, the owner takes the
// largest rank of the group by swapping with the member holding it, which leaves
// the budget unchanged (PEFT swaps in the same way).
func redistribute(ratios [][]float64, maxComp []int, budget int, owner []int) []int {
	type entry struct {
		v       float64
		layer   int
		compIdx int
	}
	var pool []entry
	for i, r := range ratios {
		n := min(maxComp[i], len(r))
		for j := 0; j < n; j++ {
			pool = append(pool, entry{r[j], i, j})
		}
	}
	sort.SliceStable(pool, func(a, b int) bool {
		if pool[a].v != pool[b].v {
			return pool[a].v > pool[b].v
		}
		if pool[a].layer != pool[b].layer {
			return pool[a].layer < pool[b].layer
		}
		return pool[a].compIdx < pool[b].compIdx
	})
	ranks := make([]int, len(ratios))
	for _, e := range pool[:min(budget, len(pool))] {
		ranks[e.layer]++
	}
	for i, o := range owner {
		if o != i && ranks[o] < ranks[i] {
			ranks[o], ranks[i] = ranks[i], ranks[o]
		}
	}
	return ranks
}
