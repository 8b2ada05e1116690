package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type optimizerSection struct {
	Beta1 float64 `yaml:"beta1"`
	Beta2 float64 `yaml:"beta2"`
}

type trainSection struct {
	Steps     int              `yaml:"steps"`
	Optimizer optimizerSection `yaml:"optimizer"`
}

type common struct {
	Seed int `yaml:"seed"`
}

type explained struct {
	common  `yaml:",inline"`
	Name    string                  `yaml:"name"`
	Train   trainSection            `yaml:"train"`
	Targets []float64               `yaml:"targets"`
	Ranks   map[string]int          `yaml:"ranks"`
	Groups  []group                 `yaml:"groups"`
	Extra   map[string]trainSection `yaml:"extra"`
	Every   time.Duration           `yaml:"every"`
	Count   uint64                  `yaml:"count"`
	Small   int8                    `yaml:"small"`
}

// group decodes itself, as experiment families do, through DecodeNode.
type group struct {
	Label string       `yaml:"label"`
	Train trainSection `yaml:"train"`
}

func (g *group) UnmarshalYAML(n *yaml.Node) error {
	type plain group
	p := plain{Label: "default"}
	if err := DecodeNode(n, &p); err != nil {
		return err
	}
	*g = group(p)
	return nil
}

// Decoding errors name the key's path and line; an unknown key names the nearest
// known key and the keys of its section.
func TestDecodeExplains(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // each must appear in the error
		not        []string // none may appear
	}{
		{"unknown top-level key, one swap away", "sede: 1\n",
			[]string{"line 1: unknown key sede (did you mean seed?)", "the keys of the top level are count, every, extra, groups, name, ranks, seed, small, targets, train"}, []string{"main.", "config."}},
		{"unknown nested key", "train:\n  steps: 3\n  stpes: 4\n",
			[]string{"line 3: unknown key train.stpes (did you mean steps?); the keys of train are optimizer, steps"}, nil},
		{"no suggestion when nothing is close", "train:\n  momentum: 0.9\n",
			[]string{"unknown key train.momentum; the keys of train are"}, []string{"did you mean"}},
		{"unknown key in a flow mapping", "train: {steps: 2, optimizer: {betta1: 0.9}}\n",
			[]string{"line 1: unknown key train.optimizer.betta1 (did you mean beta1?)"}, nil},
		{"wrong type in a flow mapping", "train: {steps: 2, optimizer: {beta1: high, beta2: 0.9}}\n",
			[]string{"line 1: train.optimizer.beta1: want a number, got a string `high`"}, nil},
		{"wrong type in a list", "targets: [1.0, x]\n",
			[]string{"line 1: targets.1: want a number, got a string `x`"}, nil},
		{"wrong type in a map", "ranks:\n  head: two\n",
			[]string{"line 2: ranks.head: want an integer, got a string `two`"}, nil},
		{"unknown key under a map of sections", "extra:\n  a:\n    step: 1\n",
			[]string{"line 3: unknown key extra.a.step (did you mean steps?)"}, nil},
		{"two problems", "seed: zero\nnme: x\n",
			[]string{"\n  line 1: seed: want an integer, got a string `zero`", "\n  line 2: unknown key nme (did you mean name?)"}, nil},
		{"inside a type that decodes itself", "name: n\ngroups:\n  - label: a\n  - label: b\n    train: {stepz: 1}\n",
			[]string{"line 5: unknown key groups.1.train.stepz (did you mean steps?)"}, nil},
		{"wrong type inside a type that decodes itself", "groups:\n  - train:\n      steps: lots\n",
			[]string{"line 3: groups.0.train.steps: want an integer, got a string `lots`"}, nil},
		{"an unknown key and a wrong type inside a type that decodes itself", "groups: [{label: a, bogus: 1, train: {steps: lots}}]\n",
			[]string{"line 1: unknown key groups.0.bogus", "line 1: groups.0.train.steps: want an integer, got a string `lots`"}, nil},
		{"an unknown key reached through an alias", "groups:\n  - &g {label: a, bogus: 1}\n  - *g\n",
			[]string{"line 2: unknown key groups.0.bogus; the keys of groups.0 are label, train"}, nil},
		{"an unknown key in a merged mapping", "groups:\n  - &g {label: a}\n  - {<<: [*g, {lable: b}]}\n",
			[]string{"line 3: unknown key groups.1.lable (did you mean label?)"}, []string{"<<"}},
		{"a list for a single value", "name: [a, b]\n", []string{"line 1: name: want a single value, got a list"}, nil},
		{"a number for a duration", "every: 5\n", []string{"line 1: every: want a duration such as 5s, 2m or 1h30m, got an integer `5`"}, nil},
		{"a scalar for a list", "targets: 3\n", []string{"line 1: targets: want a list, got an integer `3`"}, nil},
		{"a key set twice", "train:\n  steps: 1\n  steps: 2\n", []string{"line 3: key train.steps is set a second time (first at line 2)"}, nil},
		{"a key set twice in a flow mapping", "train: {steps: 1, optimizer: {beta1: 0.9, beta1: 0.8}}\n",
			[]string{"line 1: key train.optimizer.beta1 is set a second time (first at line 1)"}, nil},
		{"a negative number for an unsigned field", "count: -1\n", []string{"line 1: count: want a non-negative integer, got `-1`"}, nil},
		{"a number too large for its type", "small: 300\n", []string{"line 1: small: `300` is out of range for this key (int8)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst explained
			err := Decode("cfg.yaml", []byte(tt.text), &dst)
			if err == nil {
				t.Fatalf("no error for %q", tt.text)
			}
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				t.Errorf("error %v does not wrap the decoder's *yaml.TypeError", err)
			}
			for _, w := range append([]string{"config cfg.yaml:"}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q contains %q", err, n)
				}
			}
		})
	}
	// A type that decodes itself keeps its defaults and reads its keys.
	var dst explained
	if err := Decode("cfg.yaml", []byte("groups:\n  - train: {steps: 2}\n  - label: x\n"), &dst); err != nil {
		t.Fatal(err)
	}
	if len(dst.Groups) != 2 || dst.Groups[0].Label != "default" || dst.Groups[0].Train.Steps != 2 || dst.Groups[1].Label != "x" {
		t.Errorf("groups %+v, want [{default {2}} {x {0}}]", dst.Groups)
	}
}

// Merge keys, aliases and null keys decode as yaml.v3 decodes them, inside types
// that decode themselves too; an alias bomb is walked once per anchor.
func TestDecodeNodeAcceptsWhatYAMLAccepts(t *testing.T) {
	var dst explained
	text := "groups:\n  - &g {label: a, train: {steps: 2}}\n  - {<<: *g, label: b}\n  - *g\n  - {~: 1, label: c}\n<<: {name: n}\n"
	if err := Decode("cfg.yaml", []byte(text), &dst); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, g := range dst.Groups {
		got = append(got, fmt.Sprintf("%s/%d", g.Label, g.Train.Steps))
	}
	if strings.Join(got, " ") != "a/2 b/2 a/2 c/0" || dst.Name != "n" {
		t.Errorf("groups %v, name %q; want a/2 b/2 a/2 c/0 and n", got, dst.Name)
	}

	bomb := "groups:\n  - label: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 9; i++ {
		bomb += fmt.Sprintf("  - label: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(bomb), &node); err != nil {
		t.Fatal(err)
	}
	w := newWalker()
	w.walk(&node, reflect.TypeOf(&dst), nil)
	if n := len(w.values); n > 20 {
		t.Errorf("the walk of a 10⁹-leaf alias bomb recorded values on %d lines, want at most its 10", n)
	}
	if err := Decode("cfg.yaml", []byte(bomb), &dst); err == nil {
		t.Error("an alias bomb decoded without error")
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"seed", "seed", 0}, {"sede", "seed", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"stpes", "steps", 1}, {"betta1", "beta1", 1}, {"ab", "ba", 1}, {"abc", "ca", 3},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := editDistance(c.b, c.a); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
}
