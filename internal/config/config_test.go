package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type sample struct {
	Name  string  `yaml:"name"`
	Steps int     `yaml:"steps"`
	LR    float64 `yaml:"lr"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, text string
		want       sample
		errHas     []string // substrings the error must contain; nil means no error
	}{
		{"defaults kept", "steps: 5\n", sample{Name: "default", Steps: 5, LR: 0.1}, nil},
		{"all set", "name: x\nsteps: 2\nlr: 0.5\n", sample{Name: "x", Steps: 2, LR: 0.5}, nil},
		{"unknown key", "steps: 5\nlearning_rate: 3\n", sample{}, []string{"cfg.yaml", "learning_rate"}},
		{"wrong type", "steps: many\n", sample{}, []string{"cfg.yaml", "many"}},
		{"empty", "", sample{}, []string{"cfg.yaml", "empty"}},
		{"two documents", "steps: 1\n---\nsteps: 2\n", sample{}, []string{"cfg.yaml", "more than one"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sample{Name: "default", LR: 0.1}
			err := Decode("cfg.yaml", []byte(tc.text), &got)
			if tc.errHas == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, got %+v", got)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	err := Load(path, &sample{})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("error %v: want a not-exist error naming the file", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestMovedKeys(t *testing.T) {
	type inner struct {
		TestEpisodes int `yaml:"test_episodes"`
	}
	type cfg struct {
		Eval  inner   `yaml:"eval"`
		Fams  []inner `yaml:"families"`
		Other int     `yaml:"other"`
	}
	moved := []Moved{{Key: "eval.final", Use: "write eval.test_episodes"}, {Key: "families.*.final", Use: "write test_episodes"}}
	for _, c := range []struct{ doc, want string }{
		{"eval:\n  final: 20\n", "line 2: key eval.final no longer exists; write eval.test_episodes"},
		{"families:\n  - test_episodes: 1\n  - final: 3\n", "key families.1.final no longer exists"},
		{"eval:\n  test_episodes: 20\nother: 1\n", ""},
	} {
		var dst cfg
		err := Decode("x.yaml", []byte(c.doc), &dst, moved...)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.doc, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.doc, err, c.want)
		}
	}
}
