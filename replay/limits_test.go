package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/evarl/evarl/internal/limits"
)

// rawRecord builds a record around a hand-written metadata object and array part.
func rawRecord(meta string, stored []byte) []byte {
	body := binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))
	body = append(append(body, meta...), stored...)
	rec := []byte(recordTag)
	rec = binary.LittleEndian.AppendUint64(rec, uint64(len(body)))
	rec = binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
	rec = append(rec, body...)
	return binary.LittleEndian.AppendUint32(rec, crc32.Checksum(body, castagnoli))
}

// A compressed record whose metadata claims more than memory holds (within what
// DEFLATE's ratio allows for its size) is refused before anything is inflated.
func TestDeflateRecordLargerThanMemory(t *testing.T) {
	want := limits.Memory()/2 + 1<<20 // 2·want (the inflated and the decoded copy) exceeds the limit
	stored := want / 1000             // within DEFLATE's 1032:1
	if stored > 64<<20 {
		t.Skipf("a record claiming %d bytes needs %d compressed bytes here; too many for a unit test", want, stored)
	}
	// obs dim 1, act dim 1: 4·((T+1) + T + T) = 12T + 4 bytes.
	steps := (want - 4) / 12
	meta := fmt.Sprintf(`{"env_id":"Test-v0","steps":%d,"obs_dim":1,"act_dim":1,"encoding":"deflate"}`, steps)
	data := append(appendHeader(nil, Version), rawRecord(meta, make([]byte, stored))...)
	_, err := Decode("big.evds", data, Options{})
	var fe *FormatError
	if !errors.Is(err, limits.ErrTooLarge) || !errors.As(err, &fe) || fe.Record != 0 || !strings.Contains(err.Error(), "big.evds") {
		t.Errorf("Decode = %v, want ErrTooLarge at record 0 naming the file", err)
	}
}

// A torn last record is a *TruncatedError: the Go message names the Go options, and
// a command-line tool can put its flag in their place.
func TestTruncatedErrorRemedy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	path := writeFileOpts(t, nil, randomEpisode(rng, "a", 3, 2, 1, 0), randomEpisode(rng, "b", 2, 2, 1, 0))
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-5], 0o644)

	_, err := Open(path, Options{})
	var te *TruncatedError
	if !errors.As(err, &te) || !errors.Is(err, ErrTruncated) || te.Intact != 1 || te.Record != 1 {
		t.Fatalf("Open = %v, want a *TruncatedError at record 1 with 1 intact episode", err)
	}
	if !strings.Contains(err.Error(), "Options.AllowTruncatedTail") || !strings.Contains(err.Error(), path) {
		t.Errorf("Go message %q: want the option and the file", err)
	}
	cli := te.WithRemedy("pass --allow-truncated to use them")
	if msg := cli.Error(); !strings.Contains(msg, "--allow-truncated") || strings.Contains(msg, "AllowTruncatedTail") ||
		!strings.Contains(msg, "the 1 episodes before it are intact") || !strings.Contains(msg, "record 1") {
		t.Errorf("CLI message %q", msg)
	}
	if te.Remedy != RemedyOpen {
		t.Error("WithRemedy changed the original error")
	}
	_, err = Append(path, nil)
	if !errors.As(err, &te) || te.Remedy != RemedyAppend {
		t.Errorf("Append = %v, want a *TruncatedError with the Append remedy", err)
	}
}
