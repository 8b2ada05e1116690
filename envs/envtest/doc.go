// Package envtest checks that an environment honours the envs.Env contract, in the
// spirit of testing/iotest: every environment package runs the same checks from its
// own tests, so the contract is enforced in one place.
//
//	func TestConformance(t *testing.T) {
//		envtest.Check(t, func() (envs.Env, error) { return envs.Make("CartPole-v1", nil) })
//	}
//
// makeEnv must return a fresh, independent environment on every call, built the way
// users build it (envs.Make, so with its time limit). Check runs subtests for:
//
//   - spaces: non-nil, positive Dim, Box bounds of the right length with Low ≤ High,
//     Discrete with N ≥ 1;
//   - Reset: same seed gives the same first observation (on one env and across two),
//     NoSeed on a never-seeded env equals seed 0, NoSeed continues the stream
//     deterministically, negative seeds other than NoSeed are rejected;
//   - episodes under random actions: observations in the observation space and
//     finite, rewards finite, Info.Elapsed counting steps, two envs with the same seed
//     and actions giving identical transitions;
//   - bad actions (wrong length, NaN, non-integer or out-of-range discrete values)
//     return an error without panicking and without changing the episode; an
//     out-of-bounds Box action is either rejected the same way or moves the
//     environment exactly like the clipped action (Gymnasium clips for some
//     environments; the reward may still charge the raw action);
//   - ownership: the caller overwriting a returned observation does not change what
//     the environment does next;
//   - time limit: Step before the first Reset and after the episode ended returns an
//     error wrapping envs.ErrEpisodeOver; a short TimeLimit truncates at exactly its
//     step count;
//   - Stateful (when implemented): State returns a copy, SetState(State()) reproduces
//     the next transition, and SetState rejects a wrong length and NaN;
//   - allocations: Step allocates nothing.
package envtest
