package policy

// LossRows describes the n input rows the named linear layer receives in the
// forward pass in progress (or the last one), for EVA's label mask (package eva):
//
//   - at[r] reports whether the loss is read at row r's token: the state tokens,
//     where ln_f and the head run;
//   - path[r] whether row r's output reaches the loss at all: at the state tokens
//     for layers whose output at a token only feeds that token's prediction (the
//     head, and attn.q, attn.o, mlp.fc, mlp.proj of the last block), and for the
//     other layers at every token that a later (or the same) real state token of its
//     window attends to, directly or through the blocks above: every real token but
//     an action after the window's last real state. The exception is attn.q at a
//     window's first real token: it attends to its own key only, a softmax over one
//     entry is constant, so that query has no gradient.
//
// Padding rows are false in both. Token-level layers (the blocks) receive B·3K rows,
// the embeddings of return, state and continuous action and the head B·K rows. It
// reports false when name is not one of the model's linear layers or n is not the
// number of rows that layer receives.
func (m *Model) LossRows(name string, n int, at, path []bool) bool {
	B, K := m.fwdB, m.fwdK
	if m.buf == nil || B == 0 || len(at) < n || len(path) < n {
		return false
	}
	l, ok := m.Linear(name)
	if !ok {
		return false
	}
	stepOK := m.buf.stepOK[:B*K]
	const state = 1 // the state token's place among the step's three
	var tokenLevel, local, query bool
	var stepTok int // for step-level layers: which of the step's tokens row r is
	last := len(m.blocks) - 1
	switch {
	case l == m.embedReturn:
		stepTok = 0
	case l == m.embedState:
		stepTok = state
	case l == m.embedAction:
		stepTok = 2
	case l == m.head:
		stepTok, local = state, true
	default:
		tokenLevel = true
		for i, b := range m.blocks {
			if l == b.attn.Q || l == b.attn.O || l == b.fc || l == b.proj {
				local = i == last
			}
			query = query || l == b.attn.Q
		}
	}
	T := tokensPerStep * K
	if (tokenLevel && n != B*T) || (!tokenLevel && n != B*K) {
		return false
	}
	// The token positions of the current window's first real token and last real state.
	first, lastState := -1, -1
	for r := 0; r < n; r++ {
		w, pos := r/T, r%T // window and token position of row r
		if !tokenLevel {
			w, pos = r/K, tokensPerStep*(r%K)+stepTok
		}
		if r == 0 || (tokenLevel && pos == 0) || (!tokenLevel && r%K == 0) {
			first, lastState = -1, -1
			for k := 0; k < K; k++ {
				if stepOK[w*K+k] {
					if first < 0 {
						first = tokensPerStep * k
					}
					lastState = tokensPerStep*k + state
				}
			}
		}
		real := stepOK[w*K+pos/tokensPerStep]
		at[r] = real && pos%tokensPerStep == state
		if local {
			path[r] = at[r]
		} else {
			path[r] = real && pos <= lastState && !(query && pos == first)
		}
	}
	return true
}
