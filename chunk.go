package tagseg

// Bitmap values: a chunk of 2^16 IDs (one roaring container, in the
// portable Roaring format, aligned so that Open can use it in place), and
// the whole bitmap of a small tag (see wholeMax). Encoding, the checked
// decoding of Check and the fuzz tests, and the in-place views Open uses.

import (
	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"

	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

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

// chunks calls fn with each 2^16-ID chunk number holding an ID of bm.
func chunks(bm *roaring.Bitmap, fn func(hi uint16) error) error {
	it := bm.Iterator()
	for it.HasNext() {
		hi := it.Next() >> 16
		if err := fn(uint16(hi)); err != nil {
			return err
		}
		if hi == math.MaxUint16 {
			break
		}
		it.AdvanceIfNeeded((hi + 1) << 16)
	}
	return nil
}

// putChunks writes every chunk of bm as bitmap k.
func putChunks(bmb *bolt.Bucket, k bmKey, bm *roaring.Bitmap) error {
	return chunks(bm, func(hi uint16) error {
		v, err := encodeChunk(roaring.And(bm, chunkRange(hi)))
		if err != nil {
			return err
		}
		return bmb.Put(chunkKey(k, hi), seal(v))
	})
}
