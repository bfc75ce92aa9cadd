package tagseg

// The change logs of watched segments (see watch.go) on disk.
//
// Layout, in the bucket "watch" (created by the first commit that needs
// it; files from before have none):
//
//	"id"             → 8 random bytes: the file's feed identity, in every cursor
//	's' name         → bucket of one saved segment:
//	    "i"              → gen, pruned, kept (uvarints): its incarnation (the
//	                       transaction that created it), the newest change
//	                       dropped by retention (0: none), the changes kept;
//	                       then, for a query with a relative date, the day
//	                       its members were last recorded on (varint, days
//	                       since 1970-01-01 UTC; absent in files from before)
//	    'c' G at         → one change: G (uint64 BE) is the transaction that
//	                       recorded it, at (int64 BE, Unix ns) its time;
//	                       the value: entered and left, two portable
//	                       Roaring bitmaps of dense IDs, each after its length
//	'g' ID           → a deleted customer: the transaction that deleted it,
//	                   its UUID and its name (uvarint, two strings)
//	'd' G ID         → the same, by deletion, for pruning (empty value)
//
// Values are sealed (CRC-32C) like every other. Changes name customers by
// dense ID; a reader turns them into UUIDs with the customer records, and
// for a customer deleted since with the 'g' entries, which are kept as long
// as a kept change may name them: an entry of a customer deleted by
// transaction G is dropped once every segment's oldest kept change is
// newer than G (a change recorded after the deletion cannot name it: its ID
// is never reused).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

var (
	bktWatch  = []byte("watch")
	keyFeedID = []byte("id")
	keyInfo   = []byte("i")
)

const (
	wkSeg    byte = 's'
	wkGone   byte = 'g'
	wkGoneBy byte = 'd'
	wkChange byte = 'c'
)

func segBucketKey(name string) []byte { return append([]byte{wkSeg}, name...) }

func changeKey(g uint64, at int64) []byte {
	k := make([]byte, 17)
	k[0] = wkChange
	binary.BigEndian.PutUint64(k[1:], g)
	binary.BigEndian.PutUint64(k[9:], uint64(at))
	return k
}

func parseChangeKey(k []byte) (g uint64, at int64, ok bool) {
	if len(k) != 17 || k[0] != wkChange {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), int64(binary.BigEndian.Uint64(k[9:])), true
}

func goneKey(id uint32) []byte { return u32key([]byte{wkGone}, id) }

func goneByKey(g uint64, id uint32) []byte {
	return u32key(binary.BigEndian.AppendUint64([]byte{wkGoneBy}, g), id)
}

// segInfo is the "i" value of a saved segment's bucket.
type segInfo struct {
	gen    uint64 // the transaction that created this incarnation
	pruned uint64 // the newest change dropped, 0: none
	kept   int    // changes kept
	// dated says day is set: the query has a relative date, and day
	// (days since 1970-01-01 UTC) is the day its members were last
	// recorded on (see watchCommitter.rollDay).
	dated bool
	day   int64
}

func (i segInfo) encode() []byte {
	b := binary.AppendUvarint(nil, i.gen)
	b = binary.AppendUvarint(b, i.pruned)
	b = binary.AppendUvarint(b, uint64(i.kept))
	if i.dated {
		b = binary.AppendVarint(b, i.day)
	}
	return seal(b)
}

func decodeSegInfo(v []byte) (segInfo, error) {
	b, err := openVal(v)
	if err != nil {
		return segInfo{}, err
	}
	d := &decoder{b: b}
	i := segInfo{gen: d.uvarint("gen"), pruned: d.uvarint("pruned"), kept: int(d.uvarint("kept"))}
	if d.err == nil && len(d.b) != 0 {
		day, n := binary.Varint(d.b)
		if n <= 0 || n != len(d.b) {
			d.fail("day")
		}
		i.dated, i.day = true, day
	}
	return i, d.err
}

// A change's value is its entered then its left set, each one kind byte
// and the set: setList, a uvarint count then the IDs as uvarint gaps (the
// first from 0) — a few bytes for the common change of one customer, and
// read without roaring's checks; setRoaring, a uvarint length then the
// set in the portable Roaring format (run-optimized) — for larger sets.
const (
	setList    byte = 1
	setRoaring byte = 2
	listMax         = 64 // the most IDs a set stored as a list holds
)

func encodeChange(entered, left *roaring.Bitmap) ([]byte, error) {
	var b []byte
	for _, bm := range []*roaring.Bitmap{entered, left} {
		if n := bm.GetCardinality(); n <= listMax {
			b = append(b, setList)
			b = binary.AppendUvarint(b, n)
			prev := uint32(0)
			for it := bm.Iterator(); it.HasNext(); {
				id := it.Next()
				b = binary.AppendUvarint(b, uint64(id-prev))
				prev = id
			}
			continue
		}
		bm.RunOptimize()
		v, err := bm.ToBytes()
		if err != nil {
			return nil, err
		}
		b = append(b, setRoaring)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return seal(b), nil
}

func decodeChange(v []byte) (entered, left *roaring.Bitmap, err error) {
	b, err := openVal(v)
	if err != nil {
		return nil, nil, err
	}
	var out [2]*roaring.Bitmap
	for i := range out {
		if len(b) == 0 {
			return nil, nil, errors.New("bad change: truncated")
		}
		kind := b[0]
		n, k := binary.Uvarint(b[1:])
		if k <= 0 {
			return nil, nil, errors.New("bad change: length")
		}
		b = b[1+k:]
		switch kind {
		case setList:
			if n > listMax {
				return nil, nil, errors.New("bad change: list too long")
			}
			ids := make([]uint32, 0, n)
			var id uint64
			for j := range n {
				gap, k := binary.Uvarint(b)
				if k <= 0 || j > 0 && gap == 0 || id+gap > math.MaxUint32 {
					return nil, nil, errors.New("bad change: ID list")
				}
				id += gap
				ids = append(ids, uint32(id))
				b = b[k:]
			}
			out[i] = roaring.BitmapOf(ids...)
		case setRoaring:
			if n == 0 || n > uint64(len(b)) {
				return nil, nil, errors.New("bad change: length")
			}
			if out[i], _, err = decodePortable(b[:n], "change"); err != nil {
				return nil, nil, err
			}
			b = b[n:]
		default:
			return nil, nil, fmt.Errorf("bad change: set kind %d", kind)
		}
	}
	if len(b) != 0 {
		return nil, nil, errors.New("bad change: trailing bytes")
	}
	return out[0], out[1], nil
}

// recordHead reads the UUID and name of a stored customer record (sealed)
// without decoding the rest: the first fields encodeRecord writes are its
// version (and journal position), the UUID, the data source, the external ID and the name
// (TestRecordHead holds this to encodeRecord).
func recordHead(v []byte) (uuid, name string, err error) {
	b, err := openVal(v)
	if err != nil {
		return "", "", err
	}
	d := &decoder{b: b}
	if d.head(); d.err != nil {
		return "", "", d.err
	}
	uuid = d.str("UUID")
	d.str("data source")
	d.str("external ID")
	name = d.str("name")
	return uuid, name, d.err
}

// gone is a deleted customer's 'g' entry.
type gone struct {
	g          uint64
	uuid, name string
}

func (x gone) encode() []byte {
	b := binary.AppendUvarint(nil, x.g)
	b = appendString(b, x.uuid)
	return seal(appendString(b, x.name))
}

func decodeGone(v []byte) (gone, error) {
	b, err := openVal(v)
	if err != nil {
		return gone{}, err
	}
	d := &decoder{b: b}
	x := gone{g: d.uvarint("transaction"), uuid: d.str("UUID"), name: d.str("name")}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return x, d.err
}

// checkWatch is Check's part for the change logs: every log decodes, its
// info agrees with its changes and with memory, every customer a change
// names has a record or a deletion entry, the deletion entries pair up, and
// every log belongs to a saved segment.
func (ix *Index) checkWatch(btx *bolt.Tx, corrupt func(format string, args ...any) error) error {
	wb := btx.Bucket(bktWatch)
	if wb == nil {
		return nil // no segment saved since changes are recorded
	}
	if len(wb.Get(keyFeedID)) != 8 {
		return corrupt("changes: bad feed identity")
	}
	ws := ix.watch.Load()
	cust, seg := btx.Bucket(bktCust), btx.Bucket(bktSeg)
	named := func(id uint32) bool { return cust.Get(u32key(nil, id)) != nil || wb.Get(goneKey(id)) != nil }
	c := wb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch {
		case bytes.Equal(k, keyFeedID):
		case k[0] == wkSeg:
			name := string(k[1:])
			sb := wb.Bucket(k)
			if sb == nil || v != nil {
				return corrupt("changes of %q: not a bucket", truncate(name))
			}
			if seg.Get([]byte(name)) == nil {
				return corrupt("changes of %q, which is not a saved segment", truncate(name))
			}
			info, err := decodeSegInfo(sb.Get(keyInfo))
			if err != nil {
				return corrupt("changes of %q: info: %v", truncate(name), err)
			}
			w, err := loadWatched(sb)
			if err != nil {
				return corrupt("changes of %q: %v", truncate(name), err)
			}
			if m := ws.segs[name]; !ix.readOnly && (m == nil || m.info != w.info || m.last != w.last || m.first != w.first || m.firstAt != w.firstAt) {
				return corrupt("changes of %q: memory (%+v) differs from the file (%+v)", truncate(name), m, w)
			}
			kept := 0
			err = sb.ForEach(func(k, v []byte) error {
				if bytes.Equal(k, keyInfo) {
					return nil
				}
				g, _, ok := parseChangeKey(k)
				if !ok || g <= info.pruned || g < info.gen {
					return corrupt("changes of %q: bad key %s", truncate(name), clipKey(k))
				}
				entered, left, err := decodeChange(v)
				if err != nil {
					return corrupt("changes of %q: change %d: %v", truncate(name), g, err)
				}
				if entered.Intersects(left) || entered.IsEmpty() && left.IsEmpty() {
					return corrupt("changes of %q: change %d: entered and left overlap, or both are empty", truncate(name), g)
				}
				for _, bm := range []*roaring.Bitmap{entered, left} {
					for it := bm.Iterator(); it.HasNext(); {
						if id := it.Next(); !named(id) {
							return corrupt("changes of %q: change %d names customer %d, which has neither a record nor a deletion entry", truncate(name), g, id)
						}
					}
				}
				kept++
				return nil
			})
			if err != nil {
				return err
			}
			if kept != info.kept {
				return corrupt("changes of %q: %d kept, info says %d", truncate(name), kept, info.kept)
			}
		case k[0] == wkGone && len(k) == 5:
			x, err := decodeGone(v)
			if err != nil {
				return corrupt("deletion entry %x: %v", k, err)
			}
			id := binary.BigEndian.Uint32(k[1:])
			if wb.Get(goneByKey(x.g, id)) == nil || cust.Get(k[1:]) != nil {
				return corrupt("deletion entry of customer %d: no entry by deletion, or a record", id)
			}
		case k[0] == wkGoneBy && len(k) == 13:
			if wb.Get(goneKey(binary.BigEndian.Uint32(k[9:]))) == nil {
				return corrupt("deletion key %x without its entry", k)
			}
		default:
			return corrupt("changes: unknown key %s", clipKey(k))
		}
	}
	if !ix.readOnly {
		for name := range ws.segs {
			if wb.Bucket(segBucketKey(name)) == nil {
				return corrupt("saved segment %q has no change log", truncate(name))
			}
		}
	}
	return nil
}
