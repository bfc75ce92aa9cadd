package tagseg

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Fuzz targets for the decoders of what the file stores. Each must never
// panic (nor allocate without bound) on any input, and must round-trip:
// what it accepts, encoded again, decodes to the same thing. The seed
// corpora are in testdata/fuzz/<target>/ (go test runs them as tests);
// -update-corpus rewrites them from the encoders. In CI, briefly (the
// minimizing time bounds the pause when an input of kilobytes, such as a
// bitmap container, turns out interesting; it is 60 s by default):
//
//	go test -run='^$' -fuzz='^FuzzDecodeRecord$' -fuzztime=10s -fuzzminimizetime=1s .
//	go test -run='^$' -fuzz='^FuzzDecodeChunk$' -fuzztime=10s -fuzzminimizetime=1s .
//	go test -run='^$' -fuzz='^FuzzDecodeHist$' -fuzztime=10s -fuzzminimizetime=1s .
//	go test -run='^$' -fuzz='^FuzzDecodeHistBlock$' -fuzztime=10s -fuzzminimizetime=1s .
//	go test -run='^$' -fuzz='^FuzzDecodeCol$' -fuzztime=10s -fuzzminimizetime=1s .
//	go test -run='^$' -fuzz='^FuzzParseChunkKey$' -fuzztime=10s -fuzzminimizetime=1s .

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz from the encoders")

// fuzzRecords are records as CreateCustomer would store them, and a few
// at the limits.
func fuzzRecords() []*record {
	long := string(bytes.Repeat([]byte("x"), maxFieldLen))
	return []*record{
		{id: 0, c: Customer{}},
		{id: 1, c: Customer{UUID: "cus_1", DataSourceUUID: "ds_a", ExternalID: "42", Name: "Ada", Email: "Ada@X.com",
			Company: "Acme", Country: "GB", State: "LDN", City: "London", Zip: "N1",
			LeadCreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), Tags: []string{"vip", "feature: dark mode", "é-tag"}}},
		{id: 2, c: Customer{UUID: "cus_2", Tags: []string{"a"}, Custom: map[string]any{
			"plan": "pro", "seats": int64(-7), "score": 2.5, "vip": true, "off": false,
			"renewal": time.Date(2261, 12, 31, 0, 0, 0, 0, time.UTC), "nan": math.NaN(), "big": int64(math.MaxInt64)}}},
		{id: math.MaxUint32 - 1, c: Customer{UUID: long[:maxKeyLen], Name: long, FreeTrialStartedAt: time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
}

func fuzzHists() [][]mrrEvent {
	minT, maxT := time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), time.Date(2261, 12, 31, 0, 0, 0, 0, time.UTC).UnixNano()
	return [][]mrrEvent{
		{{0, 0}},
		{{day(2024, 1, 1).UnixNano(), 10000}, {day(2024, 2, 1).UnixNano(), 0}, {day(2024, 3, 1).UnixNano(), 12000}},
		{{minT, 1}, {maxT, math.MaxInt64}},
		{{math.MinInt64, 5}, {math.MaxInt64, 6}},
	}
}

func fuzzChunks() []struct {
	bm *roaring.Bitmap
	hi uint16
} {
	var out []struct {
		bm *roaring.Bitmap
		hi uint16
	}
	for _, hi := range []uint16{0, 1, math.MaxUint16} {
		base := uint32(hi) << 16
		array := roaring.BitmapOf(base, base+7, base+65535)
		dense := roaring.New()
		for i := uint32(0); i < 65536; i += 3 {
			dense.Add(base + i)
		}
		runs := roaring.New()
		runs.AddRange(uint64(base)+100, uint64(base)+30000)
		full := roaring.New()
		full.AddRange(uint64(base), uint64(base)+65536)
		for _, bm := range []*roaring.Bitmap{array, dense, runs, full} {
			out = append(out, struct {
				bm *roaring.Bitmap
				hi uint16
			}{bm, hi})
		}
	}
	return out
}

func fuzzCols() [][]int64 {
	ramp := make([]int64, colBlock)
	for i := range ramp {
		ramp[i] = int64(i) * 86400e9
	}
	return [][]int64{{}, {0}, {noTime, noTime, 1}, {math.MinInt64, math.MaxInt64, math.MinInt64}, ramp}
}

// writeCorpus writes seed inputs of a fuzz target to testdata/fuzz when
// -update-corpus is given. Each input is the target's arguments.
func writeCorpus(f *testing.F, inputs [][]any) {
	if !*updateCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", f.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for i, args := range inputs {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch x := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(x)))
			case uint16:
				fmt.Fprintf(&b, "uint16(%d)\n", x)
			default:
				f.Fatalf("corpus: %T", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	var seeds [][]any
	for _, r := range fuzzRecords() {
		seeds = append(seeds, []any{encodeRecord(r)})
	}
	seeds = append(seeds, []any{[]byte{}}, []any{[]byte{recordVersion}}, []any{[]byte{recordVersion + 1}},
		[]any{append([]byte{recordVersion}, bytes.Repeat([]byte{0xff}, 12)...)})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(7, b)
		if err != nil {
			if r != nil {
				t.Fatalf("decodeRecord(%x) = %v and %v", b, r, err)
			}
			return
		}
		if r.id != 7 {
			t.Fatalf("decodeRecord(%x): ID %d", b, r.id)
		}
		enc := encodeRecord(r)
		r2, err := decodeRecord(7, enc)
		if err != nil {
			t.Fatalf("decodeRecord(%x) = %+v, which encodes as %x, which does not decode: %v", b, r.c, enc, err)
		}
		if enc2 := encodeRecord(r2); !bytes.Equal(enc, enc2) {
			t.Fatalf("decodeRecord(%x) = %+v, which does not round-trip: %x then %x", b, r.c, enc, enc2)
		}
	})
}

// TestRecordRoundTrip checks decodeRecord(encodeRecord(r)) == r field by
// field for the seed records and random customers (the fuzz target only
// sees what decodes).
func TestRecordRoundTrip(t *testing.T) {
	r := newRand(testSeed(t))
	recs := fuzzRecords()
	for i := range 200 {
		c, err := normCustomer(randCustomer(r, 10))
		if err != nil {
			t.Fatal(err)
		}
		c.UUID = fmt.Sprint("cus_", i)
		recs = append(recs, &record{id: uint32(i), c: c})
	}
	for _, rec := range recs {
		got, err := decodeRecord(rec.id, encodeRecord(rec))
		if err != nil {
			t.Fatalf("%+v: %v", rec.c, err)
		}
		if d := cmp.Diff(rec.c, got.c, cmpopts.EquateEmpty(), cmpopts.EquateNaNs()); d != "" || got.id != rec.id {
			t.Fatalf("record %d does not round-trip (-want +got):\n%s", rec.id, d)
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	var seeds [][]any
	for _, c := range fuzzChunks() {
		v, err := encodeChunk(c.bm.Clone())
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, []any{v, c.hi})
	}
	v, _ := encodeChunk(roaring.BitmapOf(1, 2, 3))
	seeds = append(seeds, []any{v, uint16(1)}, []any{[]byte{}, uint16(0)}, []any{[]byte{0x3a, 0x30, 0, 0, 1, 0, 0, 0}, uint16(0)})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte), s[1].(uint16))
	}
	f.Fuzz(func(t *testing.T, b []byte, hi uint16) {
		bm, err := decodeChunk(b, hi)
		if err != nil {
			if bm != nil {
				t.Fatalf("decodeChunk: a bitmap and %v", err)
			}
			return
		}
		if bm.IsEmpty() || bm.Minimum()>>16 != uint32(hi) || bm.Maximum()>>16 != uint32(hi) {
			t.Fatalf("decodeChunk(%x, %d) = %v: not a chunk %d bitmap", b, hi, bm, hi)
		}
		enc, err := encodeChunk(bm.Clone())
		if err != nil {
			t.Fatal(err)
		}
		bm2, err := decodeChunk(enc, hi)
		if err != nil || !bm2.Equals(bm) {
			t.Fatalf("decodeChunk(%x, %d) = %v, which does not round-trip: %v, %v", b, hi, bm, bm2, err)
		}
	})
}

func FuzzDecodeHist(f *testing.F) {
	var seeds [][]any
	for _, h := range fuzzHists() {
		seeds = append(seeds, []any{encodeHist(h)})
	}
	seeds = append(seeds, []any{[]byte{}}, []any{[]byte{0x01}}, []any{[]byte{0x00, 0x00, 0x00, 0x00}}, []any{bytes.Repeat([]byte{0xff}, 11)})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHist(b)
		if err != nil {
			return
		}
		if len(h) == 0 {
			t.Fatalf("decodeHist(%x): empty history", b)
		}
		for i, e := range h {
			if e.cents < 0 || i > 0 && e.at <= h[i-1].at {
				t.Fatalf("decodeHist(%x) = %v: times not increasing or cents negative", b, h)
			}
		}
		h2, err := decodeHist(encodeHist(h))
		if err != nil || !slices.Equal(h, h2) {
			t.Fatalf("decodeHist(%x) = %v, which does not round-trip: %v, %v", b, h, h2, err)
		}
	})
}

// FuzzDecodeHistBlock fuzzes the stored form of histories: blocks of up
// to histBlock IDs, fixed-width offsets and events.
func FuzzDecodeHistBlock(f *testing.F) {
	hs := append([][]mrrEvent{nil}, fuzzHists()...)
	var seeds [][]any
	for _, n := range []int{1, 3, len(hs), histBlock} {
		seeds = append(seeds, []any{encodeHistBlock(func(i int) []mrrEvent { return hs[i%len(hs)] }, n), uint16(n)})
	}
	seeds = append(seeds, []any{[]byte{}, uint16(0)}, []any{[]byte{0, 0, 5, 0}, uint16(4)}, []any{[]byte{0x80}, uint16(1)})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte), s[1].(uint16))
	}
	f.Fuzz(func(t *testing.T, b []byte, size uint16) {
		dst := make([][]mrrEvent, int(size)%(histBlock+1))
		if decodeHistBlock(b, dst) != nil {
			return
		}
		// How many IDs the block holds.
		k, _, _, err := histBlockView(b)
		if err != nil {
			t.Fatalf("decodeHistBlock(%x) accepts a block histBlockView rejects: %v", b, err)
		}
		for i, h := range dst {
			for j, e := range h {
				if e.cents < 0 || j > 0 && e.at <= h[j-1].at {
					t.Fatalf("decodeHistBlock(%x): history %d = %v: times not increasing or cents negative", b, i, h)
				}
			}
			// One history read alone, as Customer does, is the same.
			got, err := histInBlock(b, i)
			if err != nil || !slices.Equal(got, h) || i >= k && h != nil {
				t.Fatalf("decodeHistBlock(%x): history %d = %v, histInBlock says %v, %v", b, i, h, got, err)
			}
		}
		back := make([][]mrrEvent, k)
		if err := decodeHistBlock(encodeHistBlock(func(i int) []mrrEvent { return dst[i] }, k), back); err != nil {
			t.Fatalf("decodeHistBlock(%x) = %v, which does not round-trip: %v", b, dst, err)
		}
		for i := range back {
			if !slices.Equal(back[i], dst[i]) {
				t.Fatalf("decodeHistBlock(%x): history %d = %v, round-trips as %v", b, i, dst[i], back[i])
			}
		}
	})
}

// TestHistRoundTrip checks decodeHist(encodeHist(h)) == h for the seed
// histories, the two ends of the time range among them.
func TestHistRoundTrip(t *testing.T) {
	for _, h := range fuzzHists() {
		got, err := decodeHist(encodeHist(h))
		if err != nil || !slices.Equal(got, h) {
			t.Errorf("%v: got %v, %v", h, got, err)
		}
	}
}

func FuzzDecodeCol(f *testing.F) {
	var seeds [][]any
	for _, vals := range fuzzCols() {
		seeds = append(seeds, []any{encodeCol(vals), uint16(len(vals))})
	}
	seeds = append(seeds, []any{[]byte{0x80}, uint16(1)}, []any{[]byte{0x02, 0x02}, uint16(1)})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte), s[1].(uint16))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint16) {
		// Any block into a destination of any length up to a block.
		dst := make([]int64, int(n)%(colBlock+1))
		for i := range dst {
			dst[i] = 12345
		}
		if decodeCol(b, dst) != nil {
			return
		}
		// How many it filled: decode again over another filler.
		other := make([]int64, len(dst))
		for i := range other {
			other[i] = -12345
		}
		if err := decodeCol(b, other); err != nil {
			t.Fatalf("decodeCol(%x) succeeds once, then %v", b, err)
		}
		k := 0
		for k < len(dst) && dst[k] == other[k] {
			k++
		}
		for i := k; i < len(dst); i++ {
			if dst[i] != 12345 || other[i] != -12345 {
				t.Fatalf("decodeCol(%x) filled %d values, then wrote at %d", b, k, i)
			}
		}
		back := make([]int64, k)
		if err := decodeCol(encodeCol(dst[:k]), back); err != nil || !slices.Equal(back, dst[:k]) {
			t.Fatalf("decodeCol(%x) = %v, which does not round-trip: %v, %v", b, dst[:k], back, err)
		}
		// The encoder's side: the fuzz bytes as values.
		vals := make([]int64, 0, len(b)/8)
		for i := 0; i+8 <= len(b) && len(vals) < colBlock; i += 8 {
			vals = append(vals, int64(binary.BigEndian.Uint64(b[i:])))
		}
		got := make([]int64, len(vals))
		if err := decodeCol(encodeCol(vals), got); err != nil || !slices.Equal(got, vals) {
			t.Fatalf("encodeCol(%v) does not round-trip: %v, %v", vals, got, err)
		}
	})
}

func FuzzParseChunkKey(f *testing.F) {
	var seeds [][]any
	for _, k := range []bmKey{{bkLive, ""}, {bkTag, "vip"}, {bkTag, "feature: dark mode"}, {bkEq, "country\x00US"}} {
		for _, hi := range []uint16{0, 258, math.MaxUint16} {
			seeds = append(seeds, []any{chunkKey(k, hi)})
		}
	}
	seeds = append(seeds, []any{[]byte{}}, []any{[]byte{bkTag, 0}}, []any{[]byte{'x', 0, 0, 'a'}})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, hi, name, err := parseChunkKey(b)
		if err != nil {
			if len(b) >= 3 && (b[0] == bkLive || b[0] == bkTag || b[0] == bkEq) {
				t.Fatalf("parseChunkKey(%x): %v", b, err)
			}
			return
		}
		if back := chunkKey(bmKey{kind, string(name)}, hi); !bytes.Equal(back, b) {
			t.Fatalf("parseChunkKey(%x) = %c %d %q, which encodes as %x", b, kind, hi, name, back)
		}
		// And the other way round, for any name and chunk.
		for _, k := range []byte{bkLive, bkTag, bkEq} {
			k2, hi2, name2, err := parseChunkKey(chunkKey(bmKey{k, string(b)}, hi^0x5a5a))
			if err != nil || k2 != k || hi2 != hi^0x5a5a || !bytes.Equal(name2, b) {
				t.Fatalf("chunkKey(%c, %q, %d) parses as %c %d %q, %v", k, b, hi^0x5a5a, k2, hi2, name2, err)
			}
		}
	})
}

// FuzzDecodeWhole fuzzes the stored form of small tags' whole bitmaps:
// what decodeWhole accepts round-trips, and Open's in-place reader
// (viewWhole, on the sealed value) reads the same bitmap.
func FuzzDecodeWhole(f *testing.F) {
	var seeds [][]any
	for _, bm := range []*roaring.Bitmap{roaring.BitmapOf(1), roaring.BitmapOf(1, 2, 3, 70000, 1<<20), roaring.BitmapOf(5, 6, 7, 8, 9, 10, 11, 200000, 200001, 200002)} {
		v, err := encodeWhole(bm)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, []any{v})
	}
	seeds = append(seeds, []any{[]byte{}}, []any{[]byte{0, 0x3b, 0x30, 0, 0}})
	writeCorpus(f, seeds)
	for _, s := range seeds {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bm, err := decodeWhole(b)
		if err != nil {
			return
		}
		if n := bm.GetCardinality(); !isWhole(n) {
			t.Fatalf("decodeWhole(%x): %d IDs", b, n)
		}
		enc, err := encodeWhole(bm)
		if err != nil {
			t.Fatal(err)
		}
		var ar arena
		for _, v := range [][]byte{enc} { // only aligned values reach viewWhole
			got, err := viewWhole(&ar, seal(slices.Clone(v)))
			if err != nil || !got.Equals(bm) {
				t.Fatalf("viewWhole(%x) = %v, %v; decodeWhole says %v", v, got, err, bm)
			}
		}
	})
}
