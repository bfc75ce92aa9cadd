package tagseg

// MRR histories: one customer's events, and the stored blocks of
// histBlock customers' histories that Open copies into memory.

import (
	"encoding/binary"
	"errors"
	"math"
)

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

// maxMRR is the largest MRR SetMRR accepts, in cents: 2^40-1, some eleven
// billion in the currency's units a month. It keeps a customer's ARR and
// the sums over a segment (MRR, ARR, series) exact in an int64 up to some
// 699,000 customers at the maximum each; without it one customer at
// MaxInt64 had a negative ARR.
const maxMRR = 1<<40 - 1
