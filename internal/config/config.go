// Package config loads YAML configuration files strictly: an unknown key, a value of
// the wrong type or a missing file is an error that names the file, and the key or
// line, so that a typo in a config never silently falls back to a default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path into dst (a pointer to a struct whose fields carry
// yaml tags). Fields absent from the file keep the values dst already holds, so the
// usual pattern is to fill dst with defaults first. Unknown keys are errors.
func Load(path string, dst any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return Decode(path, data, dst)
}

// Decode is Load for data already in memory; name is used in errors.
func Decode(name string, data []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("config %s: file is empty", name)
		}
		return fmt.Errorf("config %s: %w", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: more than one YAML document; want one", name)
	}
	return nil
}
