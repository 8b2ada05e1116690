// Package all registers every environment and task set that evarl ships; import it
// for its side effect:
//
//	import _ "github.com/evarl/evarl/envs/all"
package all

import (
	_ "github.com/evarl/evarl/envs/classic"   // the five classic-control environments and their task sets
	_ "github.com/evarl/evarl/envs/gridworld" // GridWorld-v0 and the gridworld task sets
)
