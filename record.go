package tagseg

// Customer records: every field of a customer but its MRR, stored under
// its dense ID. decodeRecord never trusts a length and never panics.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// record is a customer as stored: its dense ID and every field but MRR
// (which lives in the MRR column). Its tags are the customer's as of the
// tag journal's entry seq (see journal.go): the entries after it that
// name the customer are not in them yet.
type record struct {
	id  uint32
	seq uint64
	c   Customer
}

// recordVersion is the version byte records are written with: 2 adds the
// journal position (seq) after it. A record of version 1 has seq 0.
const recordVersion = 2

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
	b = binary.AppendUvarint(b, r.seq)
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

// head reads what every record starts with: its version, and (from
// version 2) its journal position, which it returns.
func (d *decoder) head() (seq uint64) {
	switch d.byte1("version") {
	case 1:
	case recordVersion:
		seq = d.uvarint("journal position")
	default:
		if d.err == nil {
			d.err = errors.New("record: unknown version")
		}
	}
	return seq
}

// decodeRecord parses a stored customer record. It never panics; garbage
// gives an error.
func decodeRecord(id uint32, v []byte) (*record, error) {
	d := &decoder{b: v}
	r := &record{id: id, seq: d.head()}
	if d.err != nil {
		return nil, d.err
	}
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

// openRecord checks and decodes a stored customer record.
func openRecord(id uint32, v []byte) (*record, error) {
	b, err := openVal(v)
	if err != nil {
		return nil, err
	}
	return decodeRecord(id, b)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
