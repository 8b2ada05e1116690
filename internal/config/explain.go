package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeError is a YAML decoding error restated in the config's own terms: each
// problem names the key's dotted path rather than a Go type, and an unknown key
// comes with the nearest known one and the keys its section accepts.
type decodeError struct {
	name     string
	problems []string
	err      *yaml.TypeError
}

func (e *decodeError) Error() string {
	if len(e.problems) == 1 {
		return fmt.Sprintf("config %s: %s", e.name, e.problems[0])
	}
	return fmt.Sprintf("config %s:\n  %s", e.name, strings.Join(e.problems, "\n  "))
}

func (e *decodeError) Unwrap() error { return e.err }

// keyInfo is what the walk of a document learns about one mapping key.
type keyInfo struct {
	path  string   // dotted path, list indices included: "families.0.finetune.lora"
	known []string // the keys the enclosing section accepts; nil when not known
}

var (
	errLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	errNotFound = regexp.MustCompile(`^field (.*) not found in type \S+$`)
	errTwice    = regexp.MustCompile(`^mapping key (".*") already defined at line (\d+)$`)
)

// explain restates te, an error of decoding root into a value of type t, line by
// line. A line it cannot place is kept as the decoder wrote it.
func explain(name string, root *yaml.Node, t reflect.Type, te *yaml.TypeError) error {
	w := newWalker()
	w.walk(root, t, nil)
	keys, values := w.keys, w.values
	out := &decodeError{name: name, err: te}
	for _, msg := range te.Errors {
		m := errLine.FindStringSubmatch(msg)
		if m == nil {
			out.problems = append(out.problems, msg)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		if nf := errNotFound.FindStringSubmatch(m[2]); nf != nil {
			if k, ok := keys[m[1]+"/"+nf[1]]; ok {
				out.problems = append(out.problems, fmt.Sprintf("line %d: %s", line, unknownKey(k, nf[1])))
				continue
			}
		}
		if tw := errTwice.FindStringSubmatch(m[2]); tw != nil {
			key, _ := strconv.Unquote(tw[1])
			if k, ok := keys[m[1]+"/"+key]; ok {
				out.problems = append(out.problems, fmt.Sprintf("line %d: key %s is set a second time (first at line %s)", line, k.path, tw[2]))
				continue
			}
		}
		if p := valuePath(values[line], m[2]); p != "" {
			out.problems = append(out.problems, fmt.Sprintf("line %d: %s: %s", line, p, restate(m[2])))
			continue
		}
		out.problems = append(out.problems, msg)
	}
	// A key inside an anchor is reported for every alias of it; keep the first.
	seen := map[string]bool{}
	out.problems = slices.DeleteFunc(out.problems, func(p string) bool {
		dup := seen[p]
		seen[p] = true
		return dup
	})
	return out
}

var errCannot = regexp.MustCompile("^cannot unmarshal !!(\\w+) (`.*` )?into (\\S+)$")

// restate words yaml.v3's "cannot unmarshal !!str `x` into int" as what was wanted
// and what was given; any other message is kept.
func restate(msg string) string {
	m := errCannot.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	var want string
	switch t := m[3]; {
	case t == "time.Duration":
		want = "a duration such as 5s, 2m or 1h30m"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		want = "an integer"
	case strings.HasPrefix(t, "float"):
		want = "a number"
	case t == "bool":
		want = "true or false"
	case t == "string":
		want = "a single value"
	case strings.HasPrefix(t, "[]"):
		want = "a list"
	case strings.HasPrefix(t, "map["):
		want = "a mapping"
	default:
		return msg
	}
	if (m[1] == "int" && want == "an integer") || (m[1] == "float" && want == "a number") {
		// The kind is right and the value is not: a negative number for an
		// unsigned field, or one too large for its type.
		if strings.HasPrefix(m[3], "uint") && strings.HasPrefix(m[2], "`-") {
			return fmt.Sprintf("want a non-negative integer, got %s", strings.TrimSuffix(m[2], " "))
		}
		return fmt.Sprintf("%s is out of range for this key (%s)", strings.TrimSuffix(m[2], " "), m[3])
	}
	got := map[string]string{"seq": "a list", "map": "a mapping", "str": "a string", "int": "an integer",
		"float": "a number", "bool": "a boolean", "null": "nothing"}[m[1]]
	if got == "" {
		got = "!!" + m[1]
	}
	if v := strings.TrimSuffix(m[2], " "); v != "" {
		got += " " + v
	}
	return fmt.Sprintf("want %s, got %s", want, got)
}

// value is a value node of the document: its key path and, for a scalar, its text.
type value struct {
	path, scalar string
	kind         yaml.Kind
}

// valuePath picks the value of a line that the decoder's message msg is about: the
// only one on the line, else the only scalar quoted in msg, or the only list or
// mapping when msg is about one; "" when that is not clear (a flow mapping can hold
// several values on one line).
func valuePath(vs []value, msg string) string {
	if len(vs) == 1 {
		return vs[0].path
	}
	is := func(v value) bool { return v.scalar != "" && strings.Contains(msg, "`"+v.scalar+"`") }
	switch {
	case strings.Contains(msg, "!!seq "):
		is = func(v value) bool { return v.kind == yaml.SequenceNode }
	case strings.Contains(msg, "!!map "):
		is = func(v value) bool { return v.kind == yaml.MappingNode }
	}
	found := ""
	for _, v := range vs {
		if is(v) {
			if found != "" {
				return ""
			}
			found = v.path
		}
	}
	return found
}

// unknownKey words the error for key, unknown in its section.
func unknownKey(k keyInfo, key string) string {
	s := "unknown key " + k.path
	if len(k.known) == 0 {
		return s
	}
	section := "the top level"
	if i := strings.LastIndexByte(k.path, '.'); i >= 0 {
		section = k.path[:i]
	}
	if near := nearest(key, k.known); near != "" {
		s += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return s + fmt.Sprintf("; the keys of %s are %s", section, strings.Join(k.known, ", "))
}

// walker records what a walk of a document with the type it decodes into learns:
// every mapping key under "line/key", the values that start on each line, and
// the keys that the type has no field for, worded as yaml.v3 words them.
type walker struct {
	keys    map[string]keyInfo
	values  map[int][]value
	unknown []string
	// seen holds the anchored nodes already walked through an alias, with the
	// type they were walked as: each is walked once, so an alias bomb costs no
	// more than its text, and its problems are named at its first use.
	seen map[aliasUse]bool
}

type aliasUse struct {
	node *yaml.Node
	t    reflect.Type
}

func newWalker() *walker {
	return &walker{keys: map[string]keyInfo{}, values: map[int][]value{}, seen: map[aliasUse]bool{}}
}

// isMerge reports whether k is a merge key (<<), as yaml.v3 recognises one.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// walk visits n, a node of a value of type t (nil when unknown) at path.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path []string) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(path) > 0 {
		v := value{path: strings.Join(path, "."), kind: n.Kind}
		if n.Kind == yaml.ScalarNode {
			v.scalar = n.Value
		}
		w.values[n.Line] = append(w.values[n.Line], v)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if u := (aliasUse{n.Alias, t}); n.Alias != nil && !w.seen[u] {
			w.seen[u] = true
			w.walk(n.Alias, t, path)
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
	case yaml.MappingNode:
		var fields map[string]reflect.Type
		var known []string
		var elem reflect.Type
		anyKey := true
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields = map[string]reflect.Type{}
			anyKey = structKeys(t, fields)
			for k := range fields {
				known = append(known, k)
			}
			sort.Strings(known)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMerge(k) {
				// The merged mappings' keys are this section's keys.
				w.walkMerged(v, t, path)
				continue
			}
			if k.ShortTag() == "!!null" {
				continue // yaml.v3 drops a null key
			}
			p := append(append([]string(nil), path...), k.Value)
			// The first typed use names a key that aliases reach again.
			if id := strconv.Itoa(k.Line) + "/" + k.Value; w.keys[id].known == nil {
				w.keys[id] = keyInfo{path: strings.Join(p, "."), known: known}
			}
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[k.Value]; !ok && !anyKey {
					w.unknown = append(w.unknown, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
				}
			}
			w.walk(v, ft, p)
		}
	case yaml.SequenceNode:
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i, c := range n.Content {
			w.walk(c, elem, append(append([]string(nil), path...), strconv.Itoa(i)))
		}
	}
}

// walkMerged walks the value of a merge key: a mapping, an alias of one or a list
// of them, each of them keys of the section of type t at path.
func (w *walker) walkMerged(v *yaml.Node, t reflect.Type, path []string) {
	switch v.Kind {
	case yaml.SequenceNode:
		for _, c := range v.Content {
			w.walk(c, t, path)
		}
	default:
		w.walk(v, t, path)
	}
}

// DecodeNode decodes node into dst (a pointer) as Decode decodes a file: a key that
// dst's type has no field for is an error. It is for UnmarshalYAML methods, inside
// which yaml.v3 checks no keys. Its errors are *yaml.TypeError with node's own line
// numbers: returned unwrapped from UnmarshalYAML, Decode states them with the keys'
// paths in the file.
func DecodeNode(node *yaml.Node, dst any) error {
	w := newWalker()
	w.walk(node, reflect.TypeOf(dst), nil)
	err := node.Decode(dst)
	if len(w.unknown) == 0 {
		return err
	}
	problems := w.unknown
	var te *yaml.TypeError
	if errors.As(err, &te) {
		problems = append(problems, te.Errors...)
		sort.SliceStable(problems, func(a, b int) bool { return lineOf(problems[a]) < lineOf(problems[b]) })
	}
	return &yaml.TypeError{Errors: problems}
}

// lineOf is the line number a decoder message starts with (0: none).
func lineOf(msg string) int {
	if m := errLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// structKeys adds the YAML keys of struct type t to fields, with their types, as
// yaml.v3 names them: the tag's name, else the lower-cased field name; inline
// structs contribute their own keys. It reports whether t takes any key (an inline
// map).
func structKeys(t reflect.Type, fields map[string]reflect.Type) (anyKey bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" && !strings.Contains(string(f.Tag), ":") {
			tag = string(f.Tag) // a bare tag, which yaml.v3 still reads
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				anyKey = structKeys(ft, fields) || anyKey
			case reflect.Map:
				anyKey = true
			}
			continue
		}
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return anyKey
}

// nearest is the known key closest to key by edit distance, "" when none is close
// enough to be a likely typo (more than a third of the key's length away).
func nearest(key string, known []string) string {
	best, bestD := "", len(key)/3+1
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the number of byte insertions, deletions, substitutions and
// swaps of adjacent bytes that turn a into b (the optimal string alignment
// distance): "sede" is one swap from "seed".
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}
