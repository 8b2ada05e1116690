// Package config loads YAML configuration files strictly: an unknown key, a value of
// the wrong type or a missing file is an error that names the file, and the key or
// line, so that a typo in a config never silently falls back to a default. A key
// that was renamed or removed is an error that names its replacement.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Moved records a key that no longer exists: Key is its dotted path ("eval.final";
// "*" matches any key or list index at that level), and Use says what to write
// instead.
type Moved struct {
	Key, Use string
}

// MaxSize bounds a config file (16 MiB). Configs are written by hand and the largest
// shipped one is a few kilobytes; the YAML decoder builds a node tree several times
// the size of its input, so the bound keeps a wrong path (a dataset given as a
// config) from being parsed into gigabytes. Sizes inside a config are bounded where
// they are used (see package internal/limits).
const MaxSize = 16 << 20

// Load reads the YAML file at path into dst (a pointer to a struct whose fields carry
// yaml tags). Fields absent from the file keep the values dst already holds, so the
// usual pattern is to fill dst with defaults first. Unknown keys are errors; a key
// listed in moved is an error that says what replaces it; so is a file larger than
// MaxSize.
func Load(path string, dst any, moved ...Moved) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(data) > MaxSize {
		return fmt.Errorf("config %s: larger than %d MiB; a config is a short hand-written YAML file (is this the right path?)", path, MaxSize>>20)
	}
	return Decode(path, data, dst, moved...)
}

// Decode is Load for data already in memory; name is used in errors.
func Decode(name string, data []byte, dst any, moved ...Moved) error {
	if len(data) > MaxSize {
		return fmt.Errorf("config %s: larger than %d MiB; a config is a short hand-written YAML file", name, MaxSize>>20)
	}
	if len(moved) > 0 {
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err == nil {
			if err := findMoved(name, &root, moved); err != nil {
				return err
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("config %s: file is empty", name)
		}
		var te *yaml.TypeError
		var root yaml.Node
		if errors.As(err, &te) && yaml.Unmarshal(data, &root) == nil {
			return explain(name, &root, reflect.TypeOf(dst), te)
		}
		return fmt.Errorf("config %s: %w", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: more than one YAML document; want one", name)
	}
	return nil
}

// findMoved reports the first key of the document that moved lists.
func findMoved(name string, root *yaml.Node, moved []Moved) error {
	var walk func(n *yaml.Node, path []string) error
	walk = func(n *yaml.Node, path []string) error {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if err := walk(c, path); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := append(append([]string(nil), path...), k.Value)
				for _, m := range moved {
					if matches(strings.Split(m.Key, "."), p) {
						return fmt.Errorf("config %s line %d: key %s no longer exists; %s", name, k.Line, strings.Join(p, "."), m.Use)
					}
				}
				if err := walk(n.Content[i+1], p); err != nil {
					return err
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if err := walk(c, append(append([]string(nil), path...), fmt.Sprint(i))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root, nil)
}

func matches(pattern, path []string) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i := range pattern {
		if pattern[i] != "*" && pattern[i] != path[i] {
			return false
		}
	}
	return true
}
