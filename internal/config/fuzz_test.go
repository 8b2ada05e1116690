package config

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/eva"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/policy"
)

// fuzzConfig gathers the library's config types as the command-line configs nest
// them: structs, inline structs, slices, maps, floats (NaN included), ints, bools.
type fuzzConfig struct {
	Name   string              `yaml:"name"`
	Model  policy.Config       `yaml:"model"`
	LoRA   lora.Config         `yaml:"lora"`
	Train  agents.TrainConfig  `yaml:"train"`
	Online agents.OnlineConfig `yaml:"online"`
	EVA    struct {
		eva.Config `yaml:",inline"`
		Source     string `yaml:"source"`
	} `yaml:"eva"`
	Datasets []string          `yaml:"datasets"`
	Extra    map[string]string `yaml:"extra"`
}

// FuzzDecode feeds arbitrary YAML to the strict decoder: no panic, no hang (alias
// bombs included), and what it accepts survives encoding and decoding unchanged
// (compared as re-encoded text, so NaN compares equal to NaN). Seeds:
// testdata/fuzz/FuzzDecode (a config of this shape, the shipped configs and an
// alias bomb). Moved keys are looked for as Load does when given them.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var a fuzzConfig
		moved := []Moved{{Key: "train.old_steps", Use: "write train.steps"}, {Key: "*.gone", Use: "remove it"}, {Key: "datasets.*.x", Use: "no"}}
		if err := Decode("fuzz.yaml", data, &a, moved...); err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		out, err := yaml.Marshal(&a)
		if err != nil {
			t.Fatalf("encoding a decoded config: %v", err)
		}
		var b fuzzConfig
		if err := Decode("again.yaml", out, &b); err != nil {
			t.Fatalf("decoding the re-encoded config: %v\n%s", err, out)
		}
		again, err := yaml.Marshal(&b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("round trip changed the config:\n%s\n%s", out, again)
		}
	})
}

func TestDecodeRefusesHugeInput(t *testing.T) {
	big := bytes.Repeat([]byte("# comment\n"), MaxSize/10+1)
	var c fuzzConfig
	if err := Decode("big.yaml", big, &c); err == nil || !strings.Contains(err.Error(), "big.yaml") || !strings.Contains(err.Error(), "MiB") {
		t.Errorf("Decode of %d bytes: %v", len(big), err)
	}
}

// An alias bomb ("billion laughs") is an error, not minutes of work and gigabytes.
func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	var v map[string]any
	if err := Decode("bomb.yaml", []byte(b.String()), &v); err == nil || !strings.Contains(err.Error(), "bomb.yaml") {
		t.Errorf("alias bomb: %v", err)
	}
}
