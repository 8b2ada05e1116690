package nn

import (
	"fmt"
	"math"
)

// Losses reduce to a mean over the rows a mask keeps: mask has one entry per row,
// true for a row that counts (a real token) and false for one to ignore (padding);
// nil keeps every row. With no row kept the loss is 0 and so is its gradient.

// CrossEntropy is softmax cross-entropy over n rows of V logits with integer targets,
// averaged over the kept rows, as PyTorch's F.cross_entropy with ignored rows. Forward
// keeps the probabilities for Backward.
type CrossEntropy struct {
	probs []float32 // (n, V) softmax of the logits, saved by Forward
	n, v  int
	count int // rows kept
}

// Forward returns the mean of −log softmax(logits)[target] over the kept rows. logits
// are (n, V); targets has n entries in [0, V) (ignored rows may hold anything).
func (ce *CrossEntropy) Forward(logits []float32, targets []int, mask []bool, n, v int) float32 {
	if len(logits) < n*v || len(targets) < n || (mask != nil && len(mask) < n) {
		panic(fmt.Sprintf("nn: cross-entropy: %d logits, %d targets, %d mask for %d rows × %d", len(logits), len(targets), len(mask), n, v))
	}
	ce.probs = grow(ce.probs, n*v)
	ce.n, ce.v, ce.count = n, v, 0
	SoftmaxForward(logits, ce.probs, n, v)
	var sum float64
	for r := 0; r < n; r++ {
		if mask != nil && !mask[r] {
			continue
		}
		t := targets[r]
		if t < 0 || t >= v {
			panic(fmt.Sprintf("nn: cross-entropy: target %d of row %d outside [0, %d)", t, r, v))
		}
		// log p from the logits directly keeps precision when p underflows.
		row := logits[r*v : (r+1)*v]
		mx := row[0]
		for _, z := range row[1:] {
			mx = max(mx, z)
		}
		var s float64
		for _, z := range row {
			s += math.Exp(float64(z - mx))
		}
		sum += math.Log(s) - float64(row[t]-mx)
		ce.count++
	}
	if ce.count == 0 {
		return 0
	}
	return float32(sum / float64(ce.count))
}

// Backward adds dloss·∂loss/∂logits, (softmax − onehot(target))/count on kept rows,
// into dlogits (n, V). targets and mask are those given to Forward.
func (ce *CrossEntropy) Backward(targets []int, mask []bool, dloss float32, dlogits []float32) {
	if ce.count == 0 {
		return
	}
	n, v := ce.n, ce.v
	g := dloss / float32(ce.count)
	for r := 0; r < n; r++ {
		if mask != nil && !mask[r] {
			continue
		}
		p, d := ce.probs[r*v:(r+1)*v], dlogits[r*v:(r+1)*v]
		for i, pi := range p {
			d[i] += g * pi
		}
		d[targets[r]] -= g
	}
}

// Probs returns the softmax probabilities of the last Forward, (n, V); valid until
// the next Forward.
func (ce *CrossEntropy) Probs() []float32 { return ce.probs }

// SoftmaxForward writes the softmax of each of n rows of v logits into probs
// (subtracting the row maximum first, so large logits do not overflow).
func SoftmaxForward(logits, probs []float32, n, v int) {
	for r := 0; r < n; r++ {
		row, p := logits[r*v:(r+1)*v], probs[r*v:(r+1)*v]
		mx := row[0]
		for _, z := range row[1:] {
			mx = max(mx, z)
		}
		var s float32
		for i, z := range row {
			e := expf(z - mx)
			p[i] = e
			s += e
		}
		inv := 1 / s
		for i := range p {
			p[i] *= inv
		}
	}
}

// MSEForward returns the mean of (pred − target)² over the d entries of every kept
// row: pred and target are (n, d). This is the Decision Transformer's action loss.
func MSEForward(pred, target []float32, mask []bool, n, d int) float32 {
	if len(pred) < n*d || len(target) < n*d || (mask != nil && len(mask) < n) {
		panic(fmt.Sprintf("nn: MSE: %d pred, %d target, %d mask for %d rows × %d", len(pred), len(target), len(mask), n, d))
	}
	var sum float64
	count := 0
	for r := 0; r < n; r++ {
		if mask != nil && !mask[r] {
			continue
		}
		for i := r * d; i < (r+1)*d; i++ {
			e := float64(pred[i] - target[i])
			sum += e * e
		}
		count++
	}
	if count == 0 {
		return 0
	}
	return float32(sum / float64(count*d))
}

// MSEBackward adds dloss·2(pred − target)/(kept rows · d) into dpred on kept rows.
func MSEBackward(pred, target []float32, mask []bool, n, d int, dloss float32, dpred []float32) {
	count := 0
	for r := 0; r < n; r++ {
		if mask == nil || mask[r] {
			count++
		}
	}
	if count == 0 {
		return
	}
	g := 2 * dloss / float32(count*d)
	for r := 0; r < n; r++ {
		if mask != nil && !mask[r] {
			continue
		}
		for i := r * d; i < (r+1)*d; i++ {
			dpred[i] += g * (pred[i] - target[i])
		}
	}
}
