package replay

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCRC32CCheckValue(t *testing.T) {
	// The standard check value of CRC-32C (Castagnoli) for "123456789", from the
	// catalogue of parametrised CRC algorithms (reveng.sourceforge.io/crc-catalogue).
	if got, want := crc32.Checksum([]byte("123456789"), castagnoli), uint32(0xE3069283); got != want {
		t.Fatalf("crc32c = %08x, want %08x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) { testRoundTrip(t, compress) })
	}
}

func testRoundTrip(t *testing.T, compress bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := []*Episode{
		randomEpisode(rng, "a", 5, 3, 2, 4),
		randomEpisode(rng, "b", 0, 3, 2, 0), // an episode cut off before its first step
		randomEpisode(rng, "a", 17, 3, 2, 0),
	}
	want[2].Options = nil
	path := filepath.Join(t.TempDir(), "data.evds")
	w, err := Create(path, &WriteOptions{Compress: compress})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range want {
		if err := w.Write(ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Path != path || ds.ObsDim != 3 || ds.ActDim != 2 || ds.DroppedBytes != 0 || ds.Transitions() != 22 {
		t.Errorf("dataset = path %q dims %d/%d dropped %d transitions %d", ds.Path, ds.ObsDim, ds.ActDim, ds.DroppedBytes, ds.Transitions())
	}
	if len(ds.Episodes) != len(want) {
		t.Fatalf("got %d episodes, want %d", len(ds.Episodes), len(want))
	}
	for i := range want {
		// Empty slices come back as empty, not nil; compare contents.
		got := *ds.Episodes[i]
		w := *want[i]
		if got.File != path || got.Index != i {
			t.Errorf("episode %d: File, Index = %q, %d; want %q, %d", i, got.File, got.Index, path, i)
		}
		got.File, got.Index = "", 0
		if len(got.Rewards) == 0 && len(w.Rewards) == 0 {
			got.Rewards, w.Rewards = nil, nil
			got.Actions, w.Actions = nil, nil
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("episode %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
}

// TestLayout reads a file by the offsets docs/dataset-format.md gives, so the
// document and the code cannot drift apart.
func TestLayout(t *testing.T) {
	ep := stepEpisode(3, 0.5) // 1 step, obs dim 2, action dim 1
	data, err := os.ReadFile(writeFile(t, ep))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if string(data[:8]) != "\x89EVRL\r\n\x1a" || le.Uint32(data[8:]) != 1 || le.Uint32(data[12:]) != crc32.Checksum(data[:12], castagnoli) {
		t.Fatalf("header % x", data[:16])
	}
	if string(data[16:20]) != "EPIS" || le.Uint32(data[28:]) != crc32.Checksum(data[16:28], castagnoli) {
		t.Fatalf("record header % x", data[16:32])
	}
	bodyLen := int(le.Uint64(data[20:]))
	body := data[32 : 32+bodyLen]
	if len(data) != 32+bodyLen+4 || le.Uint32(data[32+bodyLen:]) != crc32.Checksum(body, castagnoli) {
		t.Fatalf("file is %d bytes, body %d", len(data), bodyLen)
	}
	metaLen := int(le.Uint32(body))
	meta := string(body[4 : 4+metaLen])
	for _, field := range []string{`"env_id":"Test-v0"`, `"steps":1`, `"obs_dim":2`, `"act_dim":1`} {
		if !strings.Contains(meta, field) {
			t.Errorf("metadata %s lacks %s", meta, field)
		}
	}
	// obs (2 steps+1 … = 4 values), action (1), reward (1): float32 little-endian.
	want := []uint32{f32(3), f32(0), f32(3), f32(1), f32(30), f32(0.5)}
	arrays := body[4+metaLen:]
	if len(arrays) != 4*len(want) {
		t.Fatalf("array part is %d bytes, want %d", len(arrays), 4*len(want))
	}
	for i, w := range want {
		if got := le.Uint32(arrays[4*i:]); got != w {
			t.Errorf("array value %d = %08x, want %08x", i, got, w)
		}
	}
}

func f32(v float32) uint32 { return math.Float32bits(v) }

// TestTruncatedAtEveryByte cuts a three-episode file at every length: a strict Open
// must fail with ErrTruncated (never another error, never a panic), and a recovering
// Open must return exactly the episodes whose records end before the cut.
func TestTruncatedAtEveryByte(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) { testTruncatedAtEveryByte(t, compress) })
	}
}

func testTruncatedAtEveryByte(t *testing.T, compress bool) {
	rng := rand.New(rand.NewPCG(3, 4))
	eps := []*Episode{randomEpisode(rng, "a", 2, 2, 1, 2), randomEpisode(rng, "b", 3, 2, 1, 0), randomEpisode(rng, "c", 1, 2, 1, 0)}
	data, err := os.ReadFile(writeFileOpts(t, &WriteOptions{Compress: compress}, eps...))
	if err != nil {
		t.Fatal(err)
	}
	var ends []int // end offset of each record
	off := headerSize
	for range eps {
		off += recordHeaderSize + int(binary.LittleEndian.Uint64(data[off+4:])) + trailerSize
		ends = append(ends, off)
	}
	for cut := 0; cut < len(data); cut++ {
		complete := 0
		for complete < len(ends) && ends[complete] <= cut {
			complete++
		}
		_, err := Decode("cut.evds", data[:cut], Options{AllowEmpty: true})
		isBoundary := cut == headerSize || (complete > 0 && cut == ends[complete-1])
		if isBoundary {
			if err != nil {
				t.Errorf("cut at record boundary %d: %v", cut, err)
			}
			continue
		}
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "cut.evds") {
			t.Errorf("cut at %d: error %v, want one naming the file and wrapping ErrTruncated", cut, err)
		}
		if cut < headerSize {
			continue
		}
		ds, err := Decode("cut.evds", data[:cut], Options{AllowTruncatedTail: true, AllowEmpty: true})
		if err != nil {
			t.Errorf("cut at %d with AllowTruncatedTail: %v", cut, err)
			continue
		}
		start := headerSize
		if complete > 0 {
			start = ends[complete-1]
		}
		if len(ds.Episodes) != complete || ds.DroppedBytes != int64(cut-start) {
			t.Errorf("cut at %d: %d episodes, %d dropped bytes; want %d and %d", cut, len(ds.Episodes), ds.DroppedBytes, complete, cut-start)
		}
	}
}

// TestCorruptByte flips every byte of the middle record: each flip must be an error
// naming the file and record 1, never a silent change or a panic.
func TestCorruptByte(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) { testCorruptByte(t, compress) })
	}
}

func testCorruptByte(t *testing.T, compress bool) {
	rng := rand.New(rand.NewPCG(5, 6))
	data, err := os.ReadFile(writeFileOpts(t, &WriteOptions{Compress: compress},
		randomEpisode(rng, "a", 2, 2, 1, 0), randomEpisode(rng, "b", 3, 2, 1, 3), randomEpisode(rng, "c", 1, 2, 1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	start := headerSize + recordHeaderSize + int(binary.LittleEndian.Uint64(data[headerSize+4:])) + trailerSize
	end := start + recordHeaderSize + int(binary.LittleEndian.Uint64(data[start+4:])) + trailerSize
	for i := start; i < end; i++ {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x10
		_, err := Decode("bad.evds", bad, Options{AllowTruncatedTail: true})
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Record != 1 || fe.Offset != int64(start) {
			t.Errorf("byte %d flipped: error %v, want a FormatError at record 1, byte %d", i, err, start)
			continue
		}
		// A flipped length can make the record look longer than the file; the header
		// checksum must still catch it as corruption.
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bad.evds: record 1 at byte") {
			t.Errorf("byte %d flipped: %v, want ErrCorrupt naming the file and record", i, err)
		}
	}
}

func TestBadFiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	good, err := os.ReadFile(writeFile(t, randomEpisode(rng, "a", 2, 2, 1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	headerOnly := good[:headerSize]
	future := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(future[8:], 2)
	binary.LittleEndian.PutUint32(future[12:], crc32.Checksum(future[:12], castagnoli))
	wrongMagic := append([]byte("PK\x03\x04"), good[4:]...)
	headerFlip := append([]byte(nil), good...)
	headerFlip[9] ^= 1
	zeroTail := append(append([]byte(nil), good...), make([]byte, 100)...)
	garbageTail := append(append([]byte(nil), good...), []byte("some text that is not a record")...)

	// A second episode with a different observation size, written by hand because the
	// Writer refuses it.
	other := randomEpisode(rng, "b", 1, 3, 1, 0)
	mixed, err := new(encoder).appendRecord(append([]byte(nil), good...), other)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		data []byte
		opts Options
		want error
		text string
	}{
		{"empty file", nil, Options{}, ErrTruncated, "0 bytes"},
		{"header only", headerOnly, Options{}, ErrEmpty, "holds a header and nothing else"},
		{"wrong magic", wrongMagic, Options{}, ErrNotEpisodeFile, "first bytes"},
		{"text file", []byte("hello, world, this is text"), Options{}, ErrNotEpisodeFile, "first bytes"},
		{"future version", future, Options{}, ErrVersion, "version 2"},
		{"header bit flip", headerFlip, Options{}, ErrCorrupt, "header checksum"},
		{"zero-filled tail", zeroTail, Options{}, ErrTruncated, "zeros"},
		{"garbage after last record", garbageTail, Options{AllowTruncatedTail: true}, ErrCorrupt, "record 1"},
		{"dims disagree", mixed, Options{}, ErrDims, "obs dim 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("x.evds", tt.data, tt.opts)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "x.evds") || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %v; want %v naming x.evds and mentioning %q", err, tt.want, tt.text)
			}
		})
	}

	if ds, err := Decode("x.evds", headerOnly, Options{AllowEmpty: true}); err != nil || len(ds.Episodes) != 0 {
		t.Errorf("header only with AllowEmpty: %v", err)
	}
	if ds, err := Decode("x.evds", zeroTail, Options{AllowTruncatedTail: true}); err != nil || len(ds.Episodes) != 1 || ds.DroppedBytes != 100 {
		t.Errorf("zero tail recovered: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.evds")
	if _, err := Open(missing, Options{}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.evds") {
		t.Errorf("missing file: %v", err)
	}
}

// handRecord builds a record from its parts as docs/dataset-format.md lays it out,
// independently of the encoder, so that tests can write what the encoder never would.
func handRecord(meta string, arrays []byte) []byte {
	le := binary.LittleEndian
	body := le.AppendUint32(nil, uint32(len(meta)))
	body = append(append(body, meta...), arrays...)
	rec := le.AppendUint64([]byte("EPIS"), uint64(len(body)))
	rec = le.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
	rec = append(rec, body...)
	return le.AppendUint32(rec, crc32.Checksum(body, castagnoli))
}

func deflate(t *testing.T, raw []byte) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write(raw)
	fw.Close()
	return buf.Bytes()
}

func TestBadRecords(t *testing.T) {
	header := appendHeader(nil, Version)
	raw := make([]byte, 4*(2*1+1+1)) // 1 step, obs dim 1, action dim 1: 4 floats
	tests := []struct {
		name   string
		record []byte
		want   error
		text   string
	}{
		{"hand-made record decodes", handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1}`, raw), nil, ""},
		{"hand-made compressed record decodes", handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1,"encoding":"deflate"}`, deflate(t, raw)), nil, ""},
		{"short arrays", handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1}`, raw[:12]), ErrCorrupt, "needs 16 array bytes, record has 12"},
		{"compressed too short", handRecord(`{"env_id":"X-v0","steps":2,"obs_dim":1,"act_dim":1,"encoding":"deflate"}`, deflate(t, raw)), ErrCorrupt, "decompress"},
		{"compressed too long", handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1,"encoding":"deflate"}`, deflate(t, append(raw, 0))), ErrCorrupt, "more than the 16 bytes"},
		{"compressed garbage", handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1,"encoding":"deflate"}`, []byte{0xff, 0xff, 0xff}), ErrCorrupt, "decompress"},
		{"absurd size", handRecord(`{"env_id":"X-v0","steps":1000000000,"obs_dim":1000000000,"act_dim":1,"encoding":"deflate"}`, raw), ErrCorrupt, "cannot come from"},
		{"unknown encoding", handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1,"encoding":"zstd"}`, raw), ErrVersion, `"zstd"`},
		{"bad JSON", handRecord(`{"env_id":`, raw), ErrCorrupt, "metadata"},
		{"no env id", handRecord(`{"steps":1,"obs_dim":1,"act_dim":1}`, raw), ErrCorrupt, `env id ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Followed by a valid record, so the damage is in the middle, not the tail.
			data := append(append(append([]byte(nil), header...), tt.record...), handRecord(`{"env_id":"X-v0","steps":1,"obs_dim":1,"act_dim":1}`, raw)...)
			ds, err := Decode("r.evds", data, Options{})
			if tt.want == nil {
				if err != nil || len(ds.Episodes) != 2 || ds.Episodes[0].EnvID != "X-v0" {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "r.evds: record 0 at byte 16") || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %v; want %v at record 0, mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}
