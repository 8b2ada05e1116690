package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/evarl/evarl/agents/experiment"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/agents/pretrain"
	"github.com/evarl/evarl/internal/config"
	"github.com/evarl/evarl/lora"
)

// Every shipped config decodes, strictly, into the config of the command its name
// says runs it: a key renamed in the code and not in configs/ fails here.
func TestShippedConfigsDecode(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	exps, err := filepath.Glob(filepath.Join("..", "..", "configs", "experiments", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 10 || len(exps) == 0 {
		t.Fatalf("found %d configs and %d experiment configs; is the test run from cmd/rl-train?", len(paths), len(exps))
	}
	for _, p := range append(paths, exps...) {
		name := filepath.Base(p)
		var dst any
		var moved []config.Moved
		switch {
		case strings.Contains(p, string(filepath.Separator)+"experiments"+string(filepath.Separator)):
			c := experiment.DefaultConfig()
			dst, moved = &c, evalMoved("families.*.finetune.eval")
		case strings.HasPrefix(name, "collect-"):
			c := defaultCollectFile()
			dst = &c
		case strings.HasPrefix(name, "finetune-"), strings.HasPrefix(name, "odt-"):
			c := defaultFinetuneFile()
			dst, moved = &c, evalMoved("eval")
		case strings.HasPrefix(name, "pretrain-"):
			c := pretrainFile{Config: pretrain.DefaultConfig()}
			dst, moved = &c, evalMoved("eval")
		case strings.HasPrefix(name, "eval-"):
			c := defaultEvalCmdConfig()
			dst = &c
		case strings.HasPrefix(name, "eva-"):
			c := evaFile{LoRA: lora.DefaultConfig(), EVA: finetune.DefaultEVAConfig()}
			dst, moved = &c, evaMoved
		case name == "quickstart.yaml":
			c := runConfig{Collect: defaultCollectFile(), Finetune: defaultFinetuneFile()}
			dst, moved = &c, evalMoved("finetune.eval")
		case name == "demo.yaml":
			dst = &demoConfig{}
		default:
			t.Errorf("%s: no command known for this config; add it here", name)
			continue
		}
		if err := config.Load(p, dst, moved...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
