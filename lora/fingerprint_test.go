package lora

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/evarl/evarl/nn"
)

// TestFingerprint holds Fingerprint to a SHA-256 over the documented byte layout
// (name, NUL, each dimension as 8 little-endian bytes, then every value's float32
// bits as 4 little-endian bytes), built here in one piece, for parameters below,
// at and across the size Fingerprint hashes at a time.
func TestFingerprint(t *testing.T) {
	for _, sizes := range [][]int{{1}, {3, 5}, {1024}, {1025}, {7, 1000}, {2048, 3}} {
		var ps nn.Params
		var want []byte
		for i, n := range sizes {
			p := nn.NewParam(string(rune('a'+i))+".weight", n, 1)
			for j := range p.Data {
				p.Data[j] = float32(math.Sin(float64(j+7*i))) * 3
			}
			ps.Add(p)
			want = append(want, p.Name...)
			want = append(want, 0)
			for _, s := range p.Shape {
				want = binary.LittleEndian.AppendUint64(want, uint64(s))
			}
			for _, v := range p.Data {
				want = binary.LittleEndian.AppendUint32(want, math.Float32bits(v))
			}
		}
		sum := sha256.Sum256(want)
		if got := Fingerprint(&ps); got != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("sizes %v: Fingerprint %s, want sha256:%x", sizes, got, sum)
		}
	}
}
