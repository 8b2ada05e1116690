// Command rl-train is evarl's command-line interface: environments, data collection,
// pretraining, EVA, fine-tuning, evaluation and rendering, each a subcommand driven by
// flags and a YAML config.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, context.Canceled) {
			err = fmt.Errorf("interrupted (%w); nothing was half-written", err)
		}
		fmt.Fprintln(os.Stderr, "rl-train:", err)
		os.Exit(1)
	}
}
