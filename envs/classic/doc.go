// Package classic implements Gymnasium's classic-control environments in Go, exact to
// Gymnasium 1.x: CartPole-v1, MountainCar-v0, MountainCarContinuous-v0, Acrobot-v1 and
// Pendulum-v1, plus their task variants and task sets.
//
// Conventions:
//
//   - Dynamics follow Gymnasium's source operation by operation, in float64, so that
//     a step is bit-exact (CartPole, MountainCar, Acrobot) or within one float32 ulp
//     (Pendulum and MountainCarContinuous, where NumPy 2 computes some terms in
//     float32; those terms are computed in float32 here too). Tests replay the
//     reference data in testdata/gymnasium, recorded from the real Gymnasium code.
//   - Reset(seed) draws the start state from a port of NumPy's default_rng(seed)
//     (internal/nprand), so the first observation equals Gymnasium's for the same seed.
//     NoSeed continues the stream; an env never seeded behaves as if seeded with 0.
//   - Observations are float32 in Gymnasium: they are rounded to float32 values and
//     held in a float64 slice the environment owns (valid until the next Reset/Step).
//   - Each environment's physics lives in an exported Params struct with a pure
//     Next-style method, reachable through the environment's Params accessor, so that
//     scripted experts can plan with the variant's own dynamics and renderers can
//     draw it. State/SetState (envs.Stateful) expose the full internal state.
//   - Physical parameters are options (defaults are Gymnasium's); task sets
//     "<family>/pretrain" and "<family>/heldout" list variants (see tasks.go). A
//     held-out variant lies outside the pretraining ranges, the scripted expert
//     solves it, and for CartPole and Pendulum the shipped pretrained policy
//     measurably fails it zero-shot: CartPole's held-out set reverses the pushes (a
//     negative force_mag makes action 1 push left) on cart-poles of varied poles,
//     carts and pushes, Pendulum's has stronger gravity and heavier or longer
//     pendulums.
//   - Step never allocates and never panics: a bad action is an error; continuous
//     actions outside the bounds are clipped as Gymnasium clips them.
package classic
