package replay

import (
	"reflect"
	"testing"
)

// encodeAll lays episodes out as a whole episode file in memory.
func encodeAll(t *testing.T, eps []*Episode, compress bool) []byte {
	t.Helper()
	enc := encoder{compress: compress}
	buf := appendHeader(nil, Version)
	for _, ep := range eps {
		var err error
		if buf, err = enc.appendRecord(buf, ep); err != nil {
			t.Fatalf("encoding a decoded episode: %v", err)
		}
	}
	return buf
}

// FuzzDecode feeds arbitrary bytes to the episode-file reader: no panic, no hang,
// no allocation a length or size in the file asks for beyond the data and the memory
// limit, and the episodes it accepts survive writing (raw and compressed) and
// reading again unchanged. Seeds: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := Decode("fuzz.evds", data, Options{AllowTruncatedTail: true, AllowEmpty: true})
		if err != nil {
			return
		}
		for _, compress := range []bool{false, true} {
			again, err := Decode("again.evds", encodeAll(t, ds.Episodes, compress), Options{AllowEmpty: true})
			if err != nil {
				t.Fatalf("reading the re-written file (compress %v): %v", compress, err)
			}
			if len(again.Episodes) != len(ds.Episodes) {
				t.Fatalf("%d episodes became %d", len(ds.Episodes), len(again.Episodes))
			}
			for i := range ds.Episodes {
				a, b := *ds.Episodes[i], *again.Episodes[i]
				a.File, b.File = "", ""                         // the two files' names
				if len(a.Rewards) == 0 && len(b.Rewards) == 0 { // empty vs nil slices
					a.Rewards, b.Rewards, a.Actions, b.Actions = nil, nil, nil, nil
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("episode %d changed in the round trip (compress %v):\n%+v\n%+v", i, compress, a, b)
				}
			}
		}
	})
}

// FuzzDecodeRecord feeds arbitrary bytes to the record-body decoder directly, past
// the checksums that stop FuzzDecode's mutations (a body with a valid CRC is what
// damage that happens before checksumming, or a hostile file, can produce): the
// metadata, the lengths and the DEFLATE stream must never panic, hang or allocate
// beyond the limits, and a body that decodes to a valid episode survives
// re-encoding. Seeds: testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var d decoder
		ep, err := d.decodeBody(body, true)
		if err != nil || ep.Validate() != nil {
			return
		}
		for _, compress := range []bool{false, true} {
			enc := encoder{compress: compress}
			rec, err := enc.appendRecord(nil, ep)
			if err != nil {
				t.Fatalf("encoding a decoded episode: %v", err)
			}
			var d2 decoder
			again, err := d2.decodeBody(rec[recordHeaderSize:len(rec)-trailerSize], true)
			if err != nil {
				t.Fatalf("decoding the re-encoded record (compress %v): %v", compress, err)
			}
			a, b := *ep, *again
			if len(a.Rewards) == 0 && len(b.Rewards) == 0 {
				a.Rewards, b.Rewards, a.Actions, b.Actions = nil, nil, nil, nil
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("episode changed in the round trip (compress %v):\n%+v\n%+v", compress, a, b)
			}
		}
	})
}
