package tagseg

// Columns and field values: the dense per-ID columns (email hash, lead and
// trial dates) stored in blocks of colBlock IDs as fixed-width int64s, and
// the values of the equality fields (country, …, custom attributes) that
// name their bitmaps.

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"time"
)

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

func lower(s string) string { return strings.ToLower(s) }
