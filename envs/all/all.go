// Package all registers every environment and task set that evarl ships; import it
// for its side effect:
//
//	import _ "github.com/evarl/evarl/envs/all"
package all
