// Package metrics records training metrics as CSV or JSON lines, one row per logged
// step, and draws learning curves as PNG. Metric names are namespaced like CleanRL's
// ("train/loss", "eval/return"). A resumed run reopens its file and drops the rows
// logged after the checkpoint it resumes from, so the file reads as one uninterrupted
// run.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/evarl/evarl/internal/atomicfile"
)

// Row is one logged step: the step number and named values.
type Row struct {
	Step   int
	Values map[string]float64
}

// Format is the file format of a Logger.
type Format string

// The formats a Logger writes.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// FormatOf returns the format a path's extension names (".csv" or ".jsonl"), or an
// error.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".json":
		return JSONL, nil
	}
	return "", fmt.Errorf("metrics file %s: want a .csv or .jsonl extension", path)
}

// Logger appends rows to a metrics file and keeps them for plotting. CSV needs its
// columns up front (the header); a row's missing values are left empty.
type Logger struct {
	path    string
	format  Format
	columns []string
	rows    []Row
}

// Open starts a metrics file at path (format from the extension). When keep is not
// nil and the file exists, the rows keep accepts are kept (a resumed run keeps what
// was logged up to its checkpoint) and the rest dropped; a torn last line — what a
// crash in the middle of a write leaves — is dropped too. Otherwise the file starts
// empty. columns fixes the CSV header (ignored for JSON lines).
func Open(path string, columns []string, keep func(Row) bool) (*Logger, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	l := &Logger{path: path, format: format, columns: append([]string(nil), columns...)}
	if keep != nil {
		old, err := read(path, true)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, r := range old {
			if keep(r) {
				l.rows = append(l.rows, r)
			}
		}
	}
	if err := l.rewrite(); err != nil {
		return nil, err
	}
	return l, nil
}

// Rows returns the rows logged so far (including kept ones); do not modify them.
func (l *Logger) Rows() []Row { return l.rows }

// Path is the file the logger writes.
func (l *Logger) Path() string { return l.path }

// Record appends a row to the file: Logger is an agents.Recorder.
func (l *Logger) Record(step int, values map[string]float64) error { return l.Log(step, values) }

// Log appends a row to the file, in one write.
func (l *Logger) Log(step int, values map[string]float64) error {
	row := Row{Step: step, Values: make(map[string]float64, len(values))}
	for k, v := range values {
		row.Values[k] = v
	}
	l.rows = append(l.rows, row)
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	line, err := l.encode(row)
	if err == nil {
		_, err = f.WriteString(line)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("metrics %s: %w", l.path, err)
	}
	return nil
}

// rewrite writes the header and the kept rows to a temporary file and renames it over
// the metrics file.
func (l *Logger) rewrite() error {
	var b strings.Builder
	if l.format == CSV {
		b.WriteString("step")
		for _, c := range l.columns {
			b.WriteString("," + csvField(c))
		}
		b.WriteString("\n")
	}
	for _, r := range l.rows {
		line, err := l.encode(r)
		if err != nil {
			return err
		}
		b.WriteString(line)
	}
	return atomicfile.WriteFile(l.path, []byte(b.String()))
}

func (l *Logger) encode(r Row) (string, error) {
	if l.format == JSONL {
		obj := make(map[string]any, len(r.Values)+1)
		obj["step"] = r.Step
		for k, v := range r.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				obj[k] = nil // JSON has no NaN; null keeps the key visible
				continue
			}
			obj[k] = v
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return "", fmt.Errorf("metrics: %w", err)
		}
		return string(data) + "\n", nil
	}
	fields := make([]string, 1+len(l.columns))
	fields[0] = strconv.Itoa(r.Step)
	for i, c := range l.columns {
		if v, ok := r.Values[c]; ok {
			fields[i+1] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return strings.Join(fields, ",") + "\n", nil
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return strconv.Quote(s)
	}
	return s
}

// Read loads the rows of a metrics file written by a Logger.
func Read(path string) ([]Row, error) { return read(path, false) }

// read is Read; torn drops an incomplete last line (no final newline) instead of
// failing on it.
func read(path string, torn bool) ([]Row, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if torn && len(data) > 0 && data[len(data)-1] != '\n' {
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	var rows []Row
	if format == JSONL {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var obj map[string]any
			if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
				return nil, fmt.Errorf("metrics %s line %d: %w", path, line, err)
			}
			step, ok := obj["step"].(float64)
			if !ok {
				return nil, fmt.Errorf("metrics %s line %d: no numeric \"step\"", path, line)
			}
			r := Row{Step: int(step), Values: map[string]float64{}}
			for k, v := range obj {
				switch x := v.(type) {
				case float64:
					if k != "step" {
						r.Values[k] = x
					}
				case nil:
					r.Values[k] = math.NaN()
				}
			}
			rows = append(rows, r)
		}
		return rows, sc.Err()
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	header := recs[0]
	for i, rec := range recs[1:] {
		step, err := strconv.Atoi(rec[0])
		if err != nil {
			return nil, fmt.Errorf("metrics %s row %d: step %q: %w", path, i+2, rec[0], err)
		}
		r := Row{Step: step, Values: map[string]float64{}}
		for j := 1; j < len(rec) && j < len(header); j++ {
			if rec[j] == "" {
				continue
			}
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				return nil, fmt.Errorf("metrics %s row %d column %s: %w", path, i+2, header[j], err)
			}
			r.Values[header[j]] = v
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Keys lists every metric name that appears in rows, sorted.
func Keys(rows []Row) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for k := range r.Values {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
