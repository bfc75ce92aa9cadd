package tagseg

// The bbolt layout. One file holds everything, in these buckets:
//
//	meta   "version" → format version (uint32 BE, no checksum); "next" → next dense ID
//	cust   ID (uint32 BE) → customer record (encodeRecord)
//	uuid   UUID → ID
//	ext    uvarint(len(ds)) ds ext → ID          (only for a non-empty ExternalID)
//	col    columns: column (1 byte) block (uint32 BE, 1024 IDs a block) →
//	       fixed-width int64s: email hashes, lead and trial dates
//	bm     bitmap chunks: kind hi16 name → roaring bitmap holding the IDs
//	       of one 2^16-ID chunk (one container); chunk before name, so a
//	       bulk load (new IDs, one or two chunks) writes one region;
//	       and 's' tag → the whole bitmap of a tag of at most wholeMax
//	       customers (such a tag has no chunks)
//	ev     MRR histories: block (uint32 BE, 1024 IDs a block) → offsets
//	       and fixed-width events (encodeHistBlock)
//	seg    saved segments: name → query
//
// Every value but the format version ends in the CRC-32C of the rest
// (seal, openVal): damage is reported as ErrCorrupt where a value is read,
// never taken for data. IDs are stored as 4 bytes BE plus the checksum.
// Format 1 (no checksums, chunks without their alignment byte) gives
// ErrVersion.
//
// Bitmaps, columns, MRR histories and the next ID are loaded into memory on
// Open (the current MRR, its bit planes and the email lookup table are
// derived from them); customer records stay on disk. Every key written in
// bulk is in ID order or sorted before it is written, so a bulk load
// appends to the B+trees instead of scattering writes over them.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// formatVersion is the on-disk format this package writes and reads.
const formatVersion = 2

var (
	bktMeta = []byte("meta")
	bktCust = []byte("cust")
	bktUUID = []byte("uuid")
	bktExt  = []byte("ext")
	bktCol  = []byte("col")
	bktBm   = []byte("bm")
	bktEv   = []byte("ev")
	bktSeg  = []byte("seg")

	allBuckets = [][]byte{bktMeta, bktCust, bktUUID, bktExt, bktCol, bktBm, bktEv, bktSeg}

	keyVersion = []byte("version")
	keyNext    = []byte("next")
	keyExtFrom = []byte("loadfrom") // see extids.go and Load
)

// Bitmap kinds, the first byte of a bm key.
const (
	bkLive  byte = 'l' // live customers
	bkTag   byte = 't' // name = tag
	bkWhole byte = 's' // no chunk number: the whole bitmap of a small tag (see wholeMax)
	bkEq    byte = 'f' // name = field 0x00 value (country, state, city, zip, data_source)
	bkStr   byte = 'v' // name = field 0x00 value of a sorted field: Tx.deltas only, never stored (strKeys)
)

// bmKey names one in-memory bitmap.
type bmKey struct {
	kind byte
	name string
}

func u32key(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// chunkKey is the bm bucket key of chunk hi of bitmap k.
func chunkKey(k bmKey, hi uint16) []byte {
	b := make([]byte, 0, 3+len(k.name))
	b = append(b, k.kind)
	b = binary.BigEndian.AppendUint16(b, hi)
	return append(b, k.name...)
}

// parseChunkKey is the inverse of chunkKey; the name aliases b.
func parseChunkKey(b []byte) (kind byte, hi uint16, name []byte, err error) {
	if len(b) < 3 {
		return 0, 0, nil, errors.New("short bitmap key")
	}
	kind = b[0]
	if kind != bkLive && kind != bkTag && kind != bkEq { // bkWhole keys have no chunk
		return 0, 0, nil, fmt.Errorf("unknown bitmap kind %q", kind)
	}
	return kind, binary.BigEndian.Uint16(b[1:3]), b[3:], nil
}

// clipKey prints a key from the file for an error message: in hex, at most
// 32 bytes of it (a damaged key can be tens of kilobytes).
func clipKey(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%x…(%d bytes)", b[:32], len(b))
}

// chunkRange is a bitmap holding every ID of chunk hi.
func chunkRange(hi uint16) *roaring.Bitmap {
	r := roaring.New()
	r.AddRange(uint64(hi)<<16, uint64(hi+1)<<16)
	if hi == math.MaxUint16 {
		r = roaring.New()
		r.AddRange(uint64(hi)<<16, 1<<32)
	}
	return r
}

// encodeChunk serializes one chunk (a bitmap whose IDs share hi): the
// portable Roaring format of its one container, after one zero byte when
// the container is a run container. The zero byte aligns the container's
// 16-bit words when the value is copied to an 8-byte boundary, so that
// Open can use it in place (see loadBitmaps); the portable format never
// starts with a zero byte (its cookie is 0x303A or 0x303B).
func encodeChunk(c *roaring.Bitmap) ([]byte, error) {
	c.RunOptimize()
	b, err := c.ToBytes()
	if err != nil {
		return nil, err
	}
	return alignPortable(b), nil
}

// wholeMax is the most customers a tag stored whole has. A tag held by at
// most wholeMax customers is stored as one value, its whole bitmap (key
// bkWhole + name); a larger one in chunks of 2^16 IDs. Open reads about a
// fifth of the keys it would read if every tag were chunked (at 10M
// customers, 94% of the tags hold at most 512 customers and have 77% of the
// chunks), and adding a tag to one customer still rewrites at most a few
// kilobytes: a small tag's value, or one chunk of a large one. The form is
// a function of the count, kept by every writer (Load converts at its end;
// after a crash in between, a writable Open does).
const wholeMax = 512

// wholeKey is the bm bucket key of the whole bitmap of a small tag.
func wholeKey(tag string) []byte { return append([]byte{bkWhole}, tag...) }

// isWhole reports whether a tag of n customers is stored whole.
func isWhole(n uint64) bool { return n > 0 && n <= wholeMax }

// encodeWhole serializes the whole bitmap of a small tag, aligned as
// encodeChunk's. It holds no bitmap container (at most wholeMax IDs), so
// every container's words are 16-bit.
func encodeWhole(b *roaring.Bitmap) ([]byte, error) {
	c := b.Clone()
	c.RunOptimize()
	v, err := c.ToBytes()
	if err != nil {
		return nil, err
	}
	return alignPortable(v), nil
}

// alignPortable puts a zero byte before a portable bitmap whose header has
// an odd length, so that, copied to an even address, its 16-bit words
// are aligned (the portable format never starts with a zero byte).
func alignPortable(b []byte) []byte {
	if portableHeaderLen(b)%2 == 1 {
		return append([]byte{0}, b...)
	}
	return b
}

// portableHeaderLen is the length of the header of a portable bitmap (or
// 0 when b is too short to say).
func portableHeaderLen(b []byte) int {
	if len(b) < 8 {
		return 0
	}
	if binary.LittleEndian.Uint16(b) == serialCookieRun {
		n := int(binary.LittleEndian.Uint16(b[2:])) + 1
		h := 4 + (n+7)/8 + 4*n
		if n >= 4 {
			h += 4 * n
		}
		return h
	}
	return 8 + 8*int(binary.LittleEndian.Uint32(b[4:]))
}

// The cookies of the portable Roaring format.
const (
	serialCookieNoRun = 12346
	serialCookieRun   = 12347
)

// decodeChunk parses a stored chunk and checks it holds only IDs of chunk hi.
func decodeChunk(v []byte, hi uint16) (*roaring.Bitmap, error) {
	bm, v, err := decodePortable(v, "bitmap chunk")
	if err != nil {
		return nil, err
	}
	if bm.IsEmpty() {
		return nil, errors.New("empty bitmap chunk")
	}
	if bm.Minimum()>>16 != uint32(hi) || bm.Maximum()>>16 != uint32(hi) {
		return nil, errors.New("bitmap chunk holds IDs of another chunk")
	}
	if bm.GetSerializedSizeInBytes() > uint64(len(v)) {
		return nil, errors.New("bitmap chunk truncated")
	}
	return bm, nil
}

// decodePortable parses a stored portable bitmap (a chunk or a whole small
// tag, without its checksum and alignment byte) with every check roaring
// has, turning its panics into errors; it returns the bitmap and the
// portable bytes.
func decodePortable(v []byte, what string) (bm *roaring.Bitmap, body []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			bm, body, err = nil, nil, fmt.Errorf("%s: %v", what, r)
		}
	}()
	if len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	bm = roaring.New()
	if err := bm.UnmarshalBinary(v); err != nil {
		return nil, nil, err
	}
	if err := bm.Validate(); err != nil {
		return nil, nil, err
	}
	return bm, v, nil
}

// Columns: one int64 per ID, in memory as dense slices, stored in blocks.
const (
	colEmail = iota // hash of the lower-cased email; 0 = none
	colLead         // lead_created_at, Unix nanoseconds; noTime = none
	colTrial        // free_trial_started_at
	numCols
)

// colBlock is the number of IDs per stored column block.
const colBlock = 1024

// noTime marks an absent time in a column.
const noTime = math.MinInt64

var colNone = [numCols]int64{0, noTime, noTime}

func colKey(col int, blk uint32) []byte { return u32key([]byte{byte(col)}, blk) }

// encodeCol encodes a block as fixed-width little-endian int64s: Open
// copies them, no varint to decode.
func encodeCol(vals []int64) []byte {
	b := make([]byte, len(vals)*8, len(vals)*8+4) // room for the checksum
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[i*8:], uint64(v))
	}
	return b
}

// decodeCol fills dst from a stored block; a block written when fewer IDs
// existed holds fewer values, and the rest are left alone.
func decodeCol(v []byte, dst []int64) error {
	if len(v)%8 != 0 {
		return errors.New("column block: not whole values")
	}
	if len(v)/8 > len(dst) {
		return errors.New("column block: too many values")
	}
	for i := range len(v) / 8 {
		dst[i] = int64(binary.LittleEndian.Uint64(v[i*8:]))
	}
	return nil
}

// emailHash is the column value of an email: FNV-1a of its lower case, 0
// for none.
func emailHash(email string) int64 {
	if email == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(lower(email)))
	v := int64(h.Sum64())
	if v == 0 {
		v = 1
	}
	return v
}

func timeCol(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

// colValues are a customer's column values: the email's hash, and each
// time field's column (fields).
func colValues(c *Customer) [numCols]int64 {
	var v [numCols]int64
	v[colEmail] = emailHash(c.Email)
	for _, f := range recTimes {
		v[f.col] = timeCol(*f.tm(c))
	}
	return v
}

// eqValue is the value of c's field held as bitmaps per value (eqFields).
func eqValue(c *Customer, field string) string { return *fieldByName[field].str(c) }

func eqKey(field, value string) bmKey { return bmKey{bkEq, field + "\x00" + value} }

// eqKeys lists the equality bitmaps a customer belongs to: one per
// eqFields field and one per custom attribute ("custom.KEY", customEq).
func eqKeys(c *Customer) []bmKey {
	keys := make([]bmKey, 0, len(eqFields)+len(c.Custom))
	for _, f := range eqFields {
		keys = append(keys, eqKey(f, eqValue(c, f)))
	}
	for k, v := range c.Custom {
		keys = append(keys, eqKey("custom."+k, customEq(v)))
	}
	return keys
}

// customEq encodes a custom attribute value as the value part of its
// equality bitmap's name: a type byte, then the string, or 8 bytes.
func customEq(v any) string {
	switch x := v.(type) {
	case string:
		return "s" + x
	case int64:
		return string(binary.BigEndian.AppendUint64([]byte{'i'}, uint64(x)))
	case float64:
		return string(binary.BigEndian.AppendUint64([]byte{'f'}, math.Float64bits(x)))
	case bool:
		if x {
			return "b1"
		}
		return "b0"
	case time.Time:
		return string(binary.BigEndian.AppendUint64([]byte{'t'}, uint64(x.UnixNano())))
	}
	return ""
}

// parseCustomEq is the inverse of customEq.
func parseCustomEq(s string) (any, bool) {
	if s == "" {
		return nil, false
	}
	if s[0] == 's' {
		return s[1:], true
	}
	if s[0] == 'b' && len(s) == 2 {
		return s[1] == '1', true
	}
	if len(s) != 9 {
		return nil, false
	}
	u := binary.BigEndian.Uint64([]byte(s[1:]))
	switch s[0] {
	case 'i':
		return int64(u), true
	case 'f':
		return math.Float64frombits(u), true
	case 't':
		return time.Unix(0, int64(u)).UTC(), true
	}
	return nil, false
}

// mrrEvent is one MRR change: from the instant at (Unix nanoseconds) the
// customer's MRR is cents.
type mrrEvent struct {
	at    int64
	cents int64
}

// encodeHist encodes a history (sorted by time, one event per instant):
// per event the time as a varint delta from the previous one and the cents
// as a uvarint.
func encodeHist(h []mrrEvent) []byte {
	b := make([]byte, 0, len(h)*8)
	var prev int64
	for i, e := range h {
		if i == 0 {
			b = binary.AppendVarint(b, e.at)
		} else {
			b = binary.AppendUvarint(b, uint64(e.at-prev))
		}
		b = binary.AppendUvarint(b, uint64(e.cents))
		prev = e.at
	}
	return b
}

// decodeHist is the inverse of encodeHist; it checks that times increase
// and cents are not negative.
func decodeHist(v []byte) ([]mrrEvent, error) {
	if len(v) == 0 {
		return nil, errors.New("empty MRR history")
	}
	// Sized by the bytes, but not beyond 256 events: a damaged page can
	// hand out a value gigabytes long.
	return appendHist(make([]mrrEvent, 0, min(len(v)/4, 256)), v)
}

// appendHist decodes a history onto h.
func appendHist(h []mrrEvent, v []byte) ([]mrrEvent, error) {
	var at int64
	for first := true; len(v) > 0; first = false {
		if first {
			x, n := binary.Varint(v)
			if n <= 0 {
				return nil, errors.New("MRR history: bad time")
			}
			at, v = x, v[n:]
		} else {
			// Deltas between the years 1678 and 2261 exceed MaxInt64:
			// add them in uint64, up to what keeps at an int64.
			d, n := binary.Uvarint(v)
			if n <= 0 || d == 0 || d > uint64(math.MaxInt64)-uint64(at) {
				return nil, errors.New("MRR history: bad time delta")
			}
			at, v = int64(uint64(at)+d), v[n:]
		}
		c, n := binary.Uvarint(v)
		if n <= 0 || c > math.MaxInt64 {
			return nil, errors.New("MRR history: bad cents")
		}
		v = v[n:]
		h = append(h, mrrEvent{at, int64(c)})
	}
	return h, nil
}

// histBlock is the number of IDs per stored block of MRR histories.
const histBlock = 1024

// A stored block of MRR histories is fixed-width, for Open to copy: n,
// the number of IDs it covers (uint32 LE), then n+1 offsets (uint32 LE,
// from 0) into the events, then the events, each its time and cents
// (int64 LE): the history of the block's i-th ID is events off[i] to
// off[i+1].

// encodeHistBlock encodes the histories of the IDs of one block.
func encodeHistBlock(hs func(i int) []mrrEvent, n int) []byte {
	total := 0
	for i := range n {
		total += len(hs(i))
	}
	b := make([]byte, 4+4*(n+1), 4+4*(n+1)+16*total+4)
	binary.LittleEndian.PutUint32(b, uint32(n))
	off := uint32(0)
	for i := range n {
		h := hs(i)
		for _, e := range h {
			b = binary.LittleEndian.AppendUint64(b, uint64(e.at))
			b = binary.LittleEndian.AppendUint64(b, uint64(e.cents))
		}
		off += uint32(len(h))
		binary.LittleEndian.PutUint32(b[4+4*(i+1):], off)
	}
	return b
}

// histBlockView checks the frame of a stored block and returns its ID
// count, offsets and events (still encoded).
func histBlockView(v []byte) (n int, off, ev []byte, err error) {
	if len(v) < 8 {
		return 0, nil, nil, errors.New("MRR history block: short")
	}
	n = int(binary.LittleEndian.Uint32(v))
	if n > histBlock || len(v) < 4+4*(n+1) {
		return 0, nil, nil, errors.New("MRR history block: bad count")
	}
	off, ev = v[4:4+4*(n+1)], v[4+4*(n+1):]
	last := binary.LittleEndian.Uint32(off[4*n:])
	if binary.LittleEndian.Uint32(off) != 0 || uint64(len(ev)) != 16*uint64(last) {
		return 0, nil, nil, errors.New("MRR history block: bad offsets")
	}
	for i := range n {
		if binary.LittleEndian.Uint32(off[4*(i+1):]) < binary.LittleEndian.Uint32(off[4*i:]) {
			return 0, nil, nil, errors.New("MRR history block: offsets not in order")
		}
	}
	return n, off, ev, nil
}

// appendEvents decodes events [lo, hi) of a block's encoded events onto h,
// checking that times increase and cents are in range.
func appendEvents(h []mrrEvent, ev []byte, lo, hi uint32) ([]mrrEvent, error) {
	for j := lo; j < hi; j++ {
		e := mrrEvent{int64(binary.LittleEndian.Uint64(ev[16*j:])), int64(binary.LittleEndian.Uint64(ev[16*j+8:]))}
		if e.cents < 0 || e.cents > maxMRR {
			return nil, errors.New("MRR history: bad cents")
		}
		if j > lo && e.at <= h[len(h)-1].at {
			return nil, errors.New("MRR history: times not increasing")
		}
		h = append(h, e)
	}
	return h, nil
}

// decodeHistBlock fills dst from a stored block, the histories sharing one
// array; a block written when fewer IDs existed holds fewer.
func decodeHistBlock(v []byte, dst [][]mrrEvent) error {
	n, off, ev, err := histBlockView(v)
	if err != nil {
		return err
	}
	if n > len(dst) {
		return errors.New("MRR history block: too many customers")
	}
	buf := make([]mrrEvent, 0, len(ev)/16)
	for i := range n {
		lo, hi := binary.LittleEndian.Uint32(off[4*i:]), binary.LittleEndian.Uint32(off[4*(i+1):])
		start := len(buf)
		if buf, err = appendEvents(buf, ev, lo, hi); err != nil {
			return err
		}
		if hi > lo {
			dst[i] = buf[start:len(buf):len(buf)]
		}
	}
	return nil
}

// histInBlock decodes the history of the i-th ID of a stored block.
func histInBlock(v []byte, i int) ([]mrrEvent, error) {
	n, off, ev, err := histBlockView(v)
	if err != nil || i >= n {
		return nil, err
	}
	lo, hi := binary.LittleEndian.Uint32(off[4*i:]), binary.LittleEndian.Uint32(off[4*(i+1):])
	if lo == hi {
		return nil, nil
	}
	return appendEvents(nil, ev, lo, hi)
}

// current is the MRR after every event of h.
func current(h []mrrEvent) int64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].cents
}

// record is a customer as stored: its dense ID and every field but MRR
// (which lives in the MRR column).
type record struct {
	id uint32
	c  Customer
}

const recordVersion = 1

// Custom value type tags in records.
const (
	cvString byte = iota + 1
	cvInt
	cvFloat
	cvBool
	cvTime
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendVarint(b, t.UnixNano())
}

func encodeRecord(r *record) []byte {
	c := &r.c
	// Sized for the whole record and its checksum: no copy while growing.
	n := 64 + len(c.UUID)
	for _, f := range recStrings {
		n += len(*f.str(c))
	}
	for _, t := range c.Tags {
		n += len(t) + 2
	}
	for k, v := range c.Custom {
		n += len(k) + 16
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, recordVersion)
	b = appendString(b, c.UUID)
	for _, f := range recStrings { // the field table's record order
		b = appendString(b, *f.str(c))
	}
	for _, f := range recTimes {
		b = appendTime(b, *f.tm(c))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Tags)))
	for _, t := range c.Tags {
		b = appendString(b, t)
	}
	keys := sortedKeys(c.Custom)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		switch v := c.Custom[k].(type) {
		case string:
			b = append(b, cvString)
			b = appendString(b, v)
		case int64:
			b = append(b, cvInt)
			b = binary.AppendVarint(b, v)
		case float64:
			b = append(b, cvFloat)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case bool:
			b = append(b, cvBool)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case time.Time:
			b = append(b, cvTime)
			b = binary.AppendVarint(b, v.UnixNano())
		}
	}
	return b
}

// decoder reads a record; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("record: bad %s", what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time(what string) time.Time {
	switch d.byte1(what) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.varint(what)).UTC()
	}
	d.fail(what)
	return time.Time{}
}

// decodeRecord parses a stored customer record. It never panics; garbage
// gives an error.
func decodeRecord(id uint32, v []byte) (*record, error) {
	d := &decoder{b: v}
	if d.byte1("version") != recordVersion {
		return nil, errors.New("record: unknown version")
	}
	r := &record{id: id}
	c := &r.c
	c.UUID = d.str("uuid")
	for _, f := range recStrings { // the field table's record order
		*f.str(c) = d.str(f.name)
	}
	for _, f := range recTimes {
		*f.tm(c) = d.time(f.name)
	}
	n := d.uvarint("tag count")
	if n > uint64(len(d.b)) {
		d.fail("tag count")
	}
	if n > 0 && d.err == nil {
		c.Tags = make([]string, 0, min(n, 256)) // n is bounded by a length that may be damaged
		for i := uint64(0); i < n && d.err == nil; i++ {
			c.Tags = append(c.Tags, d.str("tag"))
		}
	}
	n = d.uvarint("custom count")
	if n > uint64(len(d.b)) {
		d.fail("custom count")
	}
	if n > 0 && d.err == nil {
		c.Custom = make(map[string]any, min(n, 64))
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.str("custom key")
			switch d.byte1("custom type") {
			case cvString:
				c.Custom[k] = d.str("custom string")
			case cvInt:
				c.Custom[k] = d.varint("custom int")
			case cvFloat:
				if len(d.b) < 8 {
					d.fail("custom float")
					break
				}
				c.Custom[k] = math.Float64frombits(binary.BigEndian.Uint64(d.b))
				d.b = d.b[8:]
			case cvBool:
				switch d.byte1("custom bool") {
				case 0:
					c.Custom[k] = false
				case 1:
					c.Custom[k] = true
				default:
					d.fail("custom bool")
				}
			case cvTime:
				c.Custom[k] = time.Unix(0, d.varint("custom time")).UTC()
			default:
				d.fail("custom type")
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// openDB opens the bbolt file and maps its errors onto ours.
func openDB(path string, opts *Options) (*bolt.DB, error) {
	// A large initial map (mmapSize: address space, not memory) saves the
	// remaps while a file grows. A remap waits for every open read
	// transaction (a View, a Segment.Customers loop, a Backup): with the map
	// larger than the file, the writer never waits for a reader. The array
	// free list is written by a copy at each commit; the
	// hashmap one sorts every free page ID first, which after a bulk load
	// cost a small durable write several milliseconds. PreLoadFreelist:
	// read the free list here, under safeOpen's guard, even when read-only
	// (bbolt would read it in Check's goroutine, unguarded).
	bo := &bolt.Options{Timeout: opts.timeout(), ReadOnly: opts.ReadOnly, NoSync: opts.NoSync,
		FreelistType: bolt.FreelistArrayType, InitialMmapSize: mmapSize, PreLoadFreelist: true}
	if opts.ReadOnly {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("tagseg: open %s: %w", path, err)
		}
		if fi.Size() == 0 { // bbolt would try to write a new file's pages
			return nil, fmt.Errorf("tagseg: open %s: empty file, not an index: %w", path, ErrCorrupt)
		}
	}
	db, err := safeOpen(path, bo)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterr.ErrTimeout):
		return nil, fmt.Errorf("tagseg: open %s: waited %v: %w", path, opts.timeout(), ErrLocked)
	case errors.Is(err, bolterr.ErrInvalid), errors.Is(err, bolterr.ErrChecksum),
		errors.Is(err, bolterr.ErrVersionMismatch), errors.Is(err, bolterr.ErrInvalidMapping),
		errors.Is(err, errPanic):
		return nil, fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("tagseg: open %s: %w", path, err)
	}
	// Anything else bbolt says about the file's contents is corruption.
	return nil, fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
}

// mmapSize is the address space an open index maps: files up to 64 GiB
// never remap (see openDB).
const mmapSize = 1 << 36

var errPanic = errors.New("panic while reading")

// syncDir fsyncs a directory, so that a file created in it survives a
// crash of the machine.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

func safeOpen(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	return bolt.Open(path, 0o600, bo)
}

// guard runs fn, turning a panic or memory fault inside bbolt (a corrupt
// page) into an ErrCorrupt error naming the path.
func guard(path string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tagseg: %s: %v: %w", path, r, ErrCorrupt)
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	return fn()
}

// initDB creates the buckets and the version key of a new file, or checks
// the version of an existing one.
func initDB(db *bolt.DB, path string, readOnly, acceptLost bool) error {
	var fresh bool
	err := guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := checkFile(path, tx); err != nil {
				return fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
			}
			if err := checkMetas(path, tx); err != nil && !acceptLost {
				return fmt.Errorf("tagseg: open %s: %v (Options.AcceptLostCommit opens it as of that commit): %w", path, err, ErrCorrupt)
			}
			meta := tx.Bucket(bktMeta)
			if meta == nil {
				empty := true
				tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
				if !empty {
					return fmt.Errorf("tagseg: open %s: not a tagseg index (no meta bucket): %w", path, ErrCorrupt)
				}
				fresh = true
				return nil
			}
			v := meta.Get(keyVersion)
			if len(v) != 4 {
				return fmt.Errorf("tagseg: open %s: missing format version: %w", path, ErrCorrupt)
			}
			if ver := binary.BigEndian.Uint32(v); ver != formatVersion {
				return fmt.Errorf("tagseg: open %s: format version %d, this build reads %d: %w", path, ver, formatVersion, ErrVersion)
			}
			for _, b := range allBuckets {
				if tx.Bucket(b) == nil {
					return fmt.Errorf("tagseg: open %s: missing bucket %q: %w", path, b, ErrCorrupt)
				}
			}
			return nil
		})
	})
	if err != nil || !fresh || readOnly {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bktMeta)
		if err := meta.Put(keyVersion, u32key(nil, formatVersion)); err != nil {
			return err
		}
		return meta.Put(keyNext, idVal(0))
	})
}

// loadBitmaps reads every bitmap: the bm bucket is split by chunk number
// among GOMAXPROCS goroutines, each with its own read transaction, and the
// parts (disjoint, in chunk order) are then joined.
func loadBitmaps(db *bolt.DB, path string, st *state, un *unfinished) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("tagseg: open %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if st.nextID == 0 {
		return nil
	}
	type part map[byte]map[string]*roaring.Bitmap
	lastHi := int(uint64(st.nextID-1) >> 16)
	w := min(runtime.GOMAXPROCS(0), lastHi+1)
	parts := make([]part, w)
	errs := make([]error, w)
	var wg sync.WaitGroup
	for p := range w {
		lo, hi := p*(lastHi+1)/w, (p+1)*(lastHi+1)/w // chunks [lo, hi)
		wg.Go(func() {
			errs[p] = guard(path, func() error {
				return db.View(func(tx *bolt.Tx) error {
					pt := part{bkLive: {}, bkTag: {}, bkEq: {}}
					parts[p] = pt
					var ar arena
					scratch := roaring.New()
					c := tx.Bucket(bktBm).Cursor()
					for _, kind := range []byte{bkLive, bkEq, bkTag} {
						m := pt[kind]
						start := []byte{kind, byte(lo >> 8), byte(lo)}
						for k, v := c.Seek(start); k != nil && k[0] == kind; k, v = c.Next() {
							_, chi, name, err := parseChunkKey(k)
							if err != nil {
								return corrupt("%v", err)
							}
							if int(chi) >= hi {
								break
							}
							chunk, err := viewChunk(&ar, scratch, v, chi)
							if err != nil {
								return corrupt("bitmap %q chunk %d: %v", truncate(string(name)), chi, err)
							}
							if uint64(chunk.Maximum()) >= uint64(st.nextID) {
								return corrupt("bitmap %q holds ID %d beyond next ID %d", truncate(string(name)), chunk.Maximum(), st.nextID)
							}
							bm := m[string(name)]
							if bm == nil {
								bm = roaring.New()
								m[string(name)] = bm
							}
							bm.Or(chunk) // takes the container without copying it
						}
					}
					return nil
				})
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Anything outside the known kinds, or beyond the last chunk?
	err := db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktBm).Cursor()
		for k, _ := c.First(); k != nil; {
			if k[0] == bkWhole {
				k, _ = c.Seek([]byte{bkWhole + 1})
				continue
			}
			kind, _, _, err := parseChunkKey(k)
			if err != nil {
				return corrupt("%v", err)
			}
			if lastHi < math.MaxUint16 {
				next := lastHi + 1
				if k, _ := c.Seek([]byte{kind, byte(next >> 8), byte(next)}); k != nil && k[0] == kind {
					return corrupt("bitmap chunk %s beyond next ID", clipKey(k))
				}
			}
			k, _ = c.Seek([]byte{kind + 1})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, pt := range parts {
		for kind, m := range pt {
			for name, bm := range m {
				k := bmKey{kind, name}
				if have := st.get(k); have != nil {
					have.Or(bm)
				} else {
					st.set(k, bm)
				}
			}
		}
	}
	// Small tags in chunks: a Load that did not finish (see wholeMax).
	for name, bm := range st.tags.all() {
		if isWhole(bm.GetCardinality()) {
			un.misformed = append(un.misformed, name)
		}
	}
	// The small tags, stored whole.
	return db.View(func(tx *bolt.Tx) error {
		var ar arena
		c := tx.Bucket(bktBm).Cursor()
		for k, v := c.Seek([]byte{bkWhole}); k != nil && k[0] == bkWhole; k, v = c.Next() {
			name := string(k[1:])
			bm, err := viewWhole(&ar, v)
			if err != nil {
				return corrupt("whole bitmap of tag %q: %v", truncate(name), err)
			}
			if uint64(bm.Maximum()) >= uint64(st.nextID) {
				return corrupt("bitmap %q holds ID %d beyond next ID %d", truncate(name), bm.Maximum(), st.nextID)
			}
			if st.get(bmKey{bkTag, name}) != nil {
				return corrupt("tag %q stored both whole and in chunks", truncate(name))
			}
			st.set(bmKey{bkTag, name}, bm)
		}
		return nil
	})
}

// load reads the in-memory state from the file.
func load(db *bolt.DB, path string) (*state, *unfinished, error) {
	st := newState()
	var txid int
	err := guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			txid = tx.ID()
			meta := tx.Bucket(bktMeta)
			if meta == nil { // a fresh read-only file
				return nil
			}
			next, err := parseID(meta.Get(keyNext))
			if err != nil {
				return fmt.Errorf("tagseg: open %s: next ID: %v: %w", path, err, ErrCorrupt)
			}
			st.nextID = next
			// The next ID sizes every in-memory column (56 bytes an ID): check
			// it against the column blocks, which every customer ever created
			// wrote its values to, before a damaged one asks for gigabytes.
			c := tx.Bucket(bktCol).Cursor()
			k, _ := c.Seek([]byte{colEmail + 1})
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			last := int64(-1) // the last block of the first column
			if len(k) == 5 && k[0] == colEmail {
				last = int64(binary.BigEndian.Uint32(k[1:]))
			}
			if want := (int64(st.nextID) - 1 + colBlock) / colBlock; last+1 != want {
				return fmt.Errorf("tagseg: open %s: next ID %d, but the last column block is %d: %w", path, st.nextID, last, ErrCorrupt)
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	// Bitmaps on their goroutines, alongside the histories and columns.
	var bmErr error
	var wg sync.WaitGroup
	un := &unfinished{}
	wg.Go(func() { bmErr = guard(path, func() error { return loadBitmaps(db, path, st, un) }) })
	err = guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bktMeta)
			if meta == nil { // a fresh read-only file
				return nil
			}
			corrupt := func(format string, args ...any) error {
				return fmt.Errorf("tagseg: open %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
			}

			// MRR histories, copied block by block into the packed
			// in-memory blocks (see histBlk), and the current MRR.
			mrr := st.mrr.edit()
			mrr.grow(st.nextID)
			blks := make([]*histBlk, (uint64(st.nextID)+blkSize-1)/blkSize)
			var cur *histBlk
			pos := 0 // IDs of cur whose end offset is set
			fill := func(upto int) {
				for ; pos < upto; pos++ {
					cur.off[pos+1] = uint32(len(cur.ev))
				}
			}
			c := tx.Bucket(bktEv).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 4 {
					return corrupt("bad MRR history key")
				}
				lo := uint64(binary.BigEndian.Uint32(k)) * histBlock
				if lo >= uint64(st.nextID) {
					return corrupt("MRR history block %x beyond next ID", k)
				}
				v, err := openVal(v)
				if err != nil {
					return corrupt("MRR history block %x: %v", k, err)
				}
				n, off, ev, err := histBlockView(v)
				if err != nil {
					return corrupt("MRR history block %x: %v", k, err)
				}
				if uint64(n) > uint64(st.nextID)-lo {
					return corrupt("MRR history block %x holds customers beyond next ID", k)
				}
				if b := int(lo >> blkBits); blks[b] != cur || cur == nil {
					if cur != nil {
						fill(blkSize)
					}
					cur, pos = &histBlk{}, 0
					blks[b] = cur
				}
				base := int(lo & blkMask)
				fill(base)
				start := uint32(len(cur.ev))
				for j := range len(ev) / 16 {
					cur.ev = append(cur.ev, mrrEvent{int64(binary.LittleEndian.Uint64(ev[16*j:])), int64(binary.LittleEndian.Uint64(ev[16*j+8:]))})
				}
				ms := mrr.span(uint32(lo), uint32(lo)+uint32(max(n, 1)))
				for i := range n {
					olo, ohi := binary.LittleEndian.Uint32(off[4*i:]), binary.LittleEndian.Uint32(off[4*(i+1):])
					cur.off[base+i+1] = start + ohi
					if ohi > olo {
						ms[i] = cur.ev[start+ohi-1].cents
					}
				}
				pos = base + n
			}
			if cur != nil {
				fill(blkSize)
			}
			st.hist, st.mrr = histCol{blks}, mrr.done()
			// Columns.
			var cols [numCols]*colEdit[int64]
			for col := range numCols {
				cols[col] = st.cols[col].edit()
				cols[col].grow(st.nextID)
			}
			c = tx.Bucket(bktCol).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 5 || int(k[0]) >= numCols {
					return corrupt("bad column key %s", clipKey(k))
				}
				col, blk := int(k[0]), binary.BigEndian.Uint32(k[1:])
				lo := uint64(blk) * colBlock
				if lo >= uint64(st.nextID) {
					return corrupt("column %d block %d beyond next ID", col, blk)
				}
				v, err := openVal(v)
				if err != nil {
					return corrupt("column %d block %d: %v", col, blk, err)
				}
				if err := decodeCol(v, cols[col].span(uint32(lo), uint32(min(lo+colBlock, uint64(st.nextID))))); err != nil {
					return corrupt("column %d block %d: %v", col, blk, err)
				}
			}
			for col := range numCols {
				st.cols[col] = cols[col].done()
			}
			st.rebuildPlanes()
			return nil
		})
	})
	wg.Wait()
	if err := errors.Join(err, bmErr); err != nil {
		return nil, nil, err
	}
	st.freezeAll()
	st.txid = txid
	if err := guard(path, func() error { return db.View(func(btx *bolt.Tx) error { return readTail(btx, path, st, un) }) }); err != nil {
		return nil, nil, err
	}
	return st, un, nil
}

// unfinished is what load found left to store, for a writable Open: the
// small tags the file holds in chunks (see wholeMax), and what a Load that
// died left unfinished, found in the records of the customers it created
// (from loadfrom on): the external IDs it had not merged into ext, and the
// customers of the tags it had not written (a tag's batches write nothing
// while it has at most wholeMax customers).
type unfinished struct {
	misformed []string
	pending   bool // loadfrom is set
	ext       extEntries
	tags      []string // tags whose bitmaps readTail completed
}

// readTail reads the tail of a Load that died into a state being loaded:
// the missing tag memberships are added to its bitmaps, the rest noted in
// un for a writable Open to store.
func readTail(btx *bolt.Tx, path string, st *state, un *unfinished) error {
	from, ok := extFrom(btx)
	if !ok {
		return nil
	}
	un.pending = true
	missing := map[string]*roaring.Bitmap{}
	c := btx.Bucket(bktCust).Cursor()
	for k, v := c.Seek(u32key(nil, from)); k != nil; k, v = c.Next() {
		if len(k) != 4 {
			return fmt.Errorf("tagseg: %s: bad customer key %s: %w", path, clipKey(k), ErrCorrupt)
		}
		id := binary.BigEndian.Uint32(k)
		r, err := openRecord(id, v)
		if err != nil {
			return fmt.Errorf("tagseg: %s: customer %d: %v: %w", path, id, err, ErrCorrupt)
		}
		if r.c.ExternalID != "" {
			un.ext.add(extKey(r.c.DataSourceUUID, r.c.ExternalID), id)
		}
		for _, t := range r.c.Tags {
			if b := st.get(bmKey{bkTag, t}); b != nil && b.Contains(id) {
				continue
			}
			m := missing[t]
			if m == nil {
				m = roaring.New()
				missing[t] = m
			}
			m.Add(id)
		}
	}
	empty := roaring.New()
	for t, m := range missing {
		st.set(bmKey{bkTag, t}, patch(st.get(bmKey{bkTag, t}), m, empty))
		un.tags = append(un.tags, t)
	}
	return nil
}

// ---- checksums ----

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal appends the CRC-32C of b to b: every value the file stores but the
// format version carries one, so that damage to it is found where it is
// read, not taken for data.
func seal(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// openVal checks a sealed value and returns it without its checksum.
func openVal(v []byte) ([]byte, error) {
	if len(v) < 4 {
		return nil, errors.New("value shorter than its checksum")
	}
	b := v[:len(v)-4]
	if crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(v[len(v)-4:]) {
		return nil, errors.New("checksum mismatch")
	}
	return b, nil
}

// idVal is a dense ID as a stored value (UUID and external-ID entries, the
// next ID).
func idVal(id uint32) []byte { return seal(u32key(make([]byte, 0, 8), id)) }

// parseID reads a value written by idVal.
func parseID(v []byte) (uint32, error) {
	b, err := openVal(v)
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("ID entry of %d bytes", len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// openRecord checks and decodes a stored customer record.
func openRecord(id uint32, v []byte) (*record, error) {
	b, err := openVal(v)
	if err != nil {
		return nil, err
	}
	return decodeRecord(id, b)
}

// arena hands out 8-byte-aligned copies of stored values from large
// blocks: the containers of the bitmaps Open loads live in them.
type arena struct{ buf []byte }

func (a *arena) copy(b []byte) []byte {
	n := (len(b) + 7) &^ 7
	if len(a.buf)+n > cap(a.buf) {
		a.buf = make([]byte, 0, max(4<<20, n))
	}
	off := len(a.buf)
	a.buf = a.buf[:off+n]
	copy(a.buf[off:], b)
	return a.buf[off : off+len(b) : off+len(b)]
}

// viewChunk checks a stored chunk of bitmap chunk hi and reads it into
// scratch without copying its container again: the container refers to a
// copy of v in ar, and is marked shared, so a bitmap that takes it with Or
// keeps it as it is. The checksum stands in for roaring's Validate.
func viewChunk(ar *arena, scratch *roaring.Bitmap, v []byte, hi uint16) (*roaring.Bitmap, error) {
	if err := viewPortable(ar, scratch, v, "bitmap chunk", 1); err != nil {
		return nil, err
	}
	if scratch.IsEmpty() {
		return nil, errors.New("empty bitmap chunk")
	}
	if scratch.Minimum()>>16 != uint32(hi) {
		return nil, errors.New("bitmap chunk holds IDs of another chunk")
	}
	return scratch, nil
}

// viewPortable checks a stored portable bitmap (a chunk or a whole small
// tag) of at most maxContainers containers (0: any number) and reads it
// into bm without copying its containers again: they refer to a copy of v
// in ar, aligned by the value's leading zero byte (see alignPortable), and
// are marked shared. The checksum stands in for roaring's Validate.
func viewPortable(ar *arena, bm *roaring.Bitmap, v []byte, what string, maxContainers int) error {
	b, err := openVal(v)
	if err != nil {
		return err
	}
	b = ar.copy(b)
	pad := 0
	if len(b) > 0 && b[0] == 0 {
		b, pad = b[1:], 1
	}
	if len(b) < 8 {
		return fmt.Errorf("short %s", what)
	}
	var n int
	switch binary.LittleEndian.Uint16(b) {
	case serialCookieNoRun:
		n = int(binary.LittleEndian.Uint32(b[4:]))
	case serialCookieRun:
		n = int(binary.LittleEndian.Uint16(b[2:])) + 1
	default:
		return fmt.Errorf("%s: not the portable Roaring format", what)
	}
	if n == 0 || maxContainers > 0 && n > maxContainers {
		return fmt.Errorf("%s of %d containers", what, n)
	}
	if (pad+portableHeaderLen(b))%2 != 0 {
		return fmt.Errorf("%s: not aligned", what)
	}
	_, err = bm.FromBuffer(b)
	return err
}

// viewWhole checks a stored whole bitmap and reads it in place, as
// viewChunk does.
func viewWhole(ar *arena, v []byte) (*roaring.Bitmap, error) {
	bm := roaring.New()
	if err := viewPortable(ar, bm, v, "whole bitmap", 0); err != nil {
		return nil, err
	}
	if n := bm.GetCardinality(); !isWhole(n) {
		return nil, fmt.Errorf("whole bitmap of %d IDs", n)
	}
	return bm, nil
}

// decodeWhole parses a stored whole bitmap (without its checksum) with
// every check roaring has: for Check and the fuzz test.
func decodeWhole(v []byte) (*roaring.Bitmap, error) {
	bm, _, err := decodePortable(v, "whole bitmap")
	if err != nil {
		return nil, err
	}
	if n := bm.GetCardinality(); !isWhole(n) {
		return nil, fmt.Errorf("whole bitmap of %d IDs", n)
	}
	return bm, nil
}

// storeTags writes the tags named in the form their counts call for
// (see wholeMax), some thousands a durable transaction; get returns a
// tag's bitmap. A small tag's chunks, if any, are deleted unless noChunks
// says it has none; a large tag's whole value is deleted. before is called
// with each transaction's ID before it commits. It returns the ID of the
// last transaction committed (0: none).
func storeTags(db *bolt.DB, path string, names []string, get func(string) *roaring.Bitmap, noChunks bool, before func(int)) (txid int, err error) {
	slices.Sort(names)
	return inTxs(db, path, "storing tags", len(names), 1<<14, false, before, func(btx *bolt.Tx, lo, hi int, _ bool) error {
		bmb := btx.Bucket(bktBm)
		for _, name := range names[lo:hi] {
			bm := get(name)
			k := bmKey{bkTag, name}
			if !isWhole(bm.GetCardinality()) {
				if err := bmb.Delete(wholeKey(name)); err != nil {
					return err
				}
				if err := putChunks(bmb, k, bm); err != nil {
					return err
				}
				continue
			}
			if !noChunks {
				if err := chunks(bm, func(hi uint16) error { return bmb.Delete(chunkKey(k, hi)) }); err != nil {
					return err
				}
			}
			v, err := encodeWhole(bm)
			if err != nil {
				return err
			}
			if err := bmb.Put(wholeKey(name), seal(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// inTxs writes n items in durable transactions of per items each: fn
// writes items [lo, hi), last in the last transaction; with once, one
// transaction runs even when n is 0. before is called with each
// transaction's ID before it commits. It returns the ID of the last
// transaction bbolt serves (0: none), also after a failed commit whose
// meta page reached the file (see commitTx); an error says what was being
// done.
func inTxs(db *bolt.DB, path, what string, n, per int, once bool, before func(int), fn func(btx *bolt.Tx, lo, hi int, last bool) error) (txid int, err error) {
	for lo := 0; lo < n || lo == 0 && once; lo += per {
		hi := min(lo+per, n)
		btx, err := db.Begin(true)
		if err != nil {
			return txid, fmt.Errorf("tagseg: %s: %s: begin: %w", path, what, err)
		}
		if err := guard(path, func() error { return fn(btx, lo, hi, hi == n) }); err != nil {
			btx.Rollback()
			return txid, fmt.Errorf("tagseg: %s: %s: %w", path, what, err)
		}
		id := btx.ID()
		if before != nil {
			before(id)
		}
		served, err := commitTx(db, path, btx)
		btx.Rollback() // after a commit, bbolt has ended it: a no-op
		if served {
			txid = id
		}
		if err != nil {
			return txid, fmt.Errorf("tagseg: %s: %s: %w", path, what, err)
		}
		if hi == n {
			break
		}
	}
	return txid, nil
}
