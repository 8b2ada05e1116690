// Package agents is where models meet environments: the Decision Transformer actor
// (per-environment context and return-to-go), evaluation with its statistics and
// normalised scores, and the trainers (offline return-conditioned supervised
// learning, online Decision Transformer). Scripted experts live in agents/expert.
//
// Everything random takes an explicit *rand.Rand; episode j of an evaluation always
// resets with seed+j, so results depend on the seed, not on how many environments
// run in parallel.
package agents
