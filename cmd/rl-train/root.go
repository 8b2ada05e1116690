package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// app holds what every subcommand shares: the logger, the config path and the output
// streams (replaced in tests).
type app struct {
	log        *logrus.Logger
	configPath string
	logFormat  string
	logLevel   string
	// allowUnverified loads checkpoints and adapters without evarl checksums.
	allowUnverified bool
	stdout          io.Writer
	stderr          io.Writer
}

// subcommands are added by each subcommand's file in an init function, so that adding
// a subcommand touches only its own file.
var subcommands []func(*app) *cobra.Command

// run builds the command tree and executes it with args; main only calls this.
func run(args []string) error {
	return runWith(args, os.Stdout, os.Stderr)
}

func runWith(args []string, stdout, stderr io.Writer) error {
	a := &app{log: logrus.New(), stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "rl-train",
		Short:         "Fine-tune Decision Transformer policies with EVA-initialised LoRA adapters",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging()
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "YAML config file")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.BoolVar(&a.allowUnverified, "allow-unverified", false, "load checkpoints and adapters that carry no evarl checksums (written by another tool or an older evarl); present checksums are still verified")
	builders := append([]func(*app) *cobra.Command(nil), subcommands...)
	cmds := make([]*cobra.Command, len(builders))
	for i, b := range builders {
		cmds[i] = b(a)
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return root.ExecuteContext(ctx)
}

func (a *app) setupLogging() error {
	a.log.SetOutput(a.stderr)
	switch a.logFormat {
	case "text":
		a.log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	case "json":
		a.log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return fmt.Errorf("--log-format %q: want text or json", a.logFormat)
	}
	lvl, err := logrus.ParseLevel(a.logLevel)
	if err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	a.log.SetLevel(lvl)
	return nil
}
