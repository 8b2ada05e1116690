package safetensors

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sealedFixture builds the file of testdata/sealed.safetensors: two F32 tensors, one
// I64, metadata with a companion digest.
func sealedFixture(t *testing.T) *File {
	t.Helper()
	f := &File{Metadata: map[string]string{"format": "pt", "note": "ünïcode"}}
	a, _ := NewFloat32("b.weight", []int{2, 3}, []float32{1, -2, 3.5, 0, 1e-3, 7})
	b, _ := NewFloat32("a.bias", []int{3}, []float32{0.5, -0.25, 2})
	c, _ := NewInt64("step", nil, []int64{42})
	if err := f.Add(a, b, c); err != nil {
		t.Fatal(err)
	}
	f.Seal(map[string][]byte{"config.json": []byte("{\"x\": 1}\n")})
	return f
}

// wantFixtureDigest was computed by testdata/digest.py (an independent Python
// implementation of the scheme) on testdata/sealed.safetensors.
const wantFixtureDigest = "20b8c39adcca3e0893eb0b1f3f6190ad67afa7ebee42362512b4fd8ae8648b15"

func TestDigestMatchesIndependentImplementation(t *testing.T) {
	path := filepath.Join("testdata", "sealed.safetensors")
	if os.Getenv("EVARL_WRITE_FIXTURE") != "" {
		if err := WriteFile(path, sealedFixture(t)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Digest(); got != wantFixtureDigest {
		t.Errorf("Digest() = %s, want %s (digest.py)", got, wantFixtureDigest)
	}
	if err := f.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := f.Metadata[CompanionPrefix+"config.json"]; got != SHA256([]byte("{\"x\": 1}\n")) {
		t.Errorf("companion digest = %s", got)
	}
}

// The digest depends on content, not layout: the same tensors laid out in another
// order, with other padding, hash the same.
func TestDigestIgnoresLayout(t *testing.T) {
	f := sealedFixture(t)
	hdr := `{"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},` +
		`"a.bias":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},` +
		`"b.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[20,44]},` +
		`"__metadata__":{` + metaJSON(f.Metadata) + `}}` + "        "
	var data []byte
	for _, n := range []string{"step", "a.bias", "b.weight"} {
		tn, _ := f.Get(n)
		data = append(data, tn.Data...)
	}
	g, err := Decode(fixture(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	if g.Digest() != f.Digest() {
		t.Errorf("digest changed with the layout")
	}
	if err := g.Verify(); err != nil {
		t.Errorf("Verify of the re-laid-out file: %v", err)
	}
}

func metaJSON(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(m[k])
		parts = append(parts, string(kj)+":"+string(vj))
	}
	return strings.Join(parts, ",")
}

// Every single-bit flip anywhere in a sealed file is caught: by the decoder or by
// the digest.
func TestEveryBitFlipIsCaught(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, sealedFixture(t)); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for i := range raw {
		for bit := 0; bit < 8; bit++ {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			f, err := Decode(b)
			if err == nil {
				err = f.Verify()
			}
			if err == nil {
				t.Fatalf("flip of bit %d of byte %d (%q) went unnoticed", bit, i, raw[i])
			}
		}
	}
}

func TestVerifyErrors(t *testing.T) {
	f := sealedFixture(t)
	unsealed := &File{Metadata: map[string]string{"format": "pt"}}
	if err := unsealed.Verify(); !errors.Is(err, ErrUnverified) {
		t.Errorf("Verify of an unsealed file = %v, want ErrUnverified", err)
	}
	// Deleting the digest does not turn the check off: it is an error of its own.
	g := sealedFixture(t)
	delete(g.Metadata, DigestKey)
	if err := g.Verify(); !errors.Is(err, ErrUnverified) {
		t.Errorf("Verify without the digest = %v, want ErrUnverified", err)
	}
	// Editing a metadata value breaks the digest.
	h := sealedFixture(t)
	h.Metadata["note"] = "edited"
	if err := h.Verify(); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verify after a metadata edit = %v, want ErrMismatch", err)
	}
	if err := f.VerifyCompanion("config.json", []byte("{\"x\": 2}\n")); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyCompanion of an edited companion = %v, want ErrMismatch", err)
	}
	if err := f.VerifyCompanion("other.json", nil); !errors.Is(err, ErrUnverified) {
		t.Errorf("VerifyCompanion of an unrecorded companion = %v, want ErrUnverified", err)
	}
}

func TestReadSealed(t *testing.T) {
	write := func(t *testing.T, f *File, cfg string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
		p := filepath.Join(dir, "model.safetensors")
		if err := WriteFile(p, f); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write(t, sealedFixture(t), "{\"x\": 1}\n")
	s, err := ReadSealed(good, []string{"config.json"}, ReadOptions{})
	if err != nil || !s.Verified || string(s.Companions["config.json"]) != "{\"x\": 1}\n" {
		t.Fatalf("ReadSealed = %+v, %v", s, err)
	}

	edited := write(t, sealedFixture(t), "{\"x\": 3}\n")
	for _, opts := range []ReadOptions{{}, {AllowUnverified: true}} {
		_, err := ReadSealed(edited, []string{"config.json"}, opts)
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), filepath.Join(filepath.Dir(edited), "config.json")) {
			t.Errorf("edited companion, %+v: error = %v, want ErrMismatch naming config.json", opts, err)
		}
	}

	foreign := &File{Metadata: map[string]string{"format": "pt"}}
	a, _ := NewFloat32("w", []int{1}, []float32{1})
	foreign.Add(a)
	fp := write(t, foreign, "{}")
	if _, err := ReadSealed(fp, []string{"config.json"}, ReadOptions{}); !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), fp) {
		t.Errorf("foreign file, strict: error = %v, want ErrUnverified naming the file", err)
	}
	s, err = ReadSealed(fp, []string{"config.json"}, ReadOptions{AllowUnverified: true})
	if err != nil || s.Verified {
		t.Errorf("foreign file, AllowUnverified: %+v, %v; want it read, not verified", s, err)
	}

	// A companion the file records is checked even when the caller did not ask.
	extra := sealedFixture(t)
	extra.Seal(map[string][]byte{"config.json": []byte("{\"x\": 1}\n"), "buffer.evds": []byte("episodes")})
	ep := write(t, extra, "{\"x\": 1}\n")
	if _, err := ReadSealed(ep, nil, ReadOptions{}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "buffer.evds") {
		t.Errorf("missing recorded companion: error = %v", err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(ep), "buffer.evds"), []byte("episodez"), 0o644)
	if _, err := ReadSealed(ep, nil, ReadOptions{}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "buffer.evds") {
		t.Errorf("damaged recorded companion: error = %v", err)
	}
}

// Random multi-byte damage of a sealed file never loads.
func TestRandomDamageIsCaught(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, sealedFixture(t)); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 2000; trial++ {
		b := append([]byte(nil), raw...)
		for k := 1 + rng.IntN(4); k > 0; k-- {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		if string(b) == string(raw) {
			continue
		}
		f, err := Decode(b)
		if err == nil {
			err = f.Verify()
		}
		if err == nil {
			t.Fatalf("trial %d: damaged file verified", trial)
		}
	}
}
