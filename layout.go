package tagseg

// The bbolt layout: buckets, keys and checksums. The storage code is in
// layers that only call down, as bbolt's page, node and freelist are:
//
//	layout.go     buckets, key formats, checksums (this file)
//	record.go     customer records              ┐
//	column.go     columns and field values       │ the codecs: values to
//	history.go    MRR histories                  │ bytes and back
//	chunk.go      bitmap chunks and small tags   ┘
//	open.go       opening the file, reading it into an image (plain data)
//	recover.go    what an interrupted Load leaves, completed on Open
//
// Above them, state.go makes a snapshot from the image (stateFromImage)
// and tx.go and load.go write through the codecs; nothing here knows of
// snapshots or transactions.
//
// One file holds everything, in these buckets:
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
//	jr     the tag journal (journal.go): seq (uint64 BE) → add or remove, tag;
//	       seq hi16 → the customers it changed in chunk hi16 (a chunk's form)
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
)

// formatVersion is the on-disk format this package writes and reads.
// Format 3 added the tag journal (bucket jr, meta jseq, records of version
// 2 with their journal position); a file of format 2 opens, and a
// writable Open makes it format 3.
const formatVersion = 3

var (
	bktMeta = []byte("meta")
	bktCust = []byte("cust")
	bktUUID = []byte("uuid")
	bktExt  = []byte("ext")
	bktCol  = []byte("col")
	bktBm   = []byte("bm")
	bktEv   = []byte("ev")
	bktSeg  = []byte("seg")
	bktJr   = []byte("jr")

	allBuckets = [][]byte{bktMeta, bktCust, bktUUID, bktExt, bktCol, bktBm, bktEv, bktSeg, bktJr}

	keyVersion = []byte("version")
	keyNext    = []byte("next")
	keyExtFrom = []byte("loadfrom") // see extids.go and Load
	keyJSeq    = []byte("jseq")     // the newest journal seq given (journal.go)
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

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func extKey(ds, ext string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ds)))
	b = append(b, ds...)
	return append(b, ext...)
}
