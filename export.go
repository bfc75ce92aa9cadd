package tagseg

// Sets of dense IDs in the portable Roaring format, both ways: a segment
// written for the engines that read that format (CRoaring, Java
// RoaringBitmap, pg_roaringbitmap; ClickHouse's groupBitmap state holds it
// behind a short header of its own), and a set read back, checked, to
// become exactly the holders of a tag.

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// WriteTo writes the members' dense IDs to w in the portable Roaring
// serialization format (github.com/RoaringBitmap/RoaringFormatSpec, the
// 32-bit format that CRoaring's roaring_bitmap_portable_deserialize and
// Java's RoaringBitmap.deserialize read), and returns the number of bytes
// written. Containers are stored as runs where that is smaller
// (RunOptimize), so the bytes are a function of the member set alone. An
// empty segment is an 8-byte bitmap of no IDs. Segment.IDs and ReadIDs
// give the same set back in Go; Customers maps IDs to customers.
func (s *Segment) WriteTo(w io.Writer) (int64, error) {
	b := s.ids.Clone()
	b.RunOptimize()
	n, err := b.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("tagseg: write segment IDs: %w", err)
	}
	return n, nil
}

// ReadIDs reads a set of dense IDs in the portable Roaring format (as
// Segment.WriteTo, CRoaring's roaring_bitmap_portable_serialize or Java's
// RoaringBitmap.serialize write it) from r, to its end. Input that is not
// one such bitmap — another format, a truncated or damaged bitmap, bytes
// after it — gives an error wrapping ErrInvalid that says what is wrong;
// no input makes it panic. It reads the whole input into memory (the
// bitmap's own size) before decoding it.
func ReadIDs(r io.Reader) (*roaring.Bitmap, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("tagseg: read IDs: %w", err)
	}
	return parseIDs(b)
}

// parseIDs decodes one portable Roaring bitmap that fills b.
func parseIDs(b []byte) (*roaring.Bitmap, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("tagseg: read IDs: %s: %w", fmt.Sprintf(format, args...), ErrInvalid)
	}
	if len(b) == 0 {
		return nil, bad("empty input, not a portable Roaring bitmap")
	}
	if !isPortable(b) {
		return nil, bad("not a portable Roaring bitmap (it starts with % x, not the cookie 3a 30 00 00 or 3b 30)", b[:min(len(b), 4)])
	}
	bm, _, err := decodePortable(b, "portable Roaring bitmap")
	if err != nil {
		return nil, bad("damaged or truncated portable Roaring bitmap (%d bytes): %v", len(b), err)
	}
	if n := bm.GetSerializedSizeInBytes(); n != uint64(len(b)) {
		return nil, bad("%d bytes after the portable Roaring bitmap's %d", uint64(len(b))-n, n)
	}
	return bm, nil
}

// isPortable reports whether b starts with a cookie of the portable Roaring
// format.
func isPortable(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch binary.LittleEndian.Uint16(b) {
	case serialCookieNoRun:
		return binary.LittleEndian.Uint16(b[2:]) == 0
	case serialCookieRun:
		return true
	}
	return false
}

// LooksLikeIDs reports whether b, the start of a file, begins as a
// portable Roaring bitmap does (its cookie): a way to tell such a file
// from text without reading it all.
func LooksLikeIDs(b []byte) bool { return isPortable(b) }

// SetTagMembers makes the customers with the dense IDs of ids exactly the
// holders of tag: it adds the tag to each of them that lacks it (at the end
// of its Tags) and removes it from every other customer holding it, and
// returns how many customers gained and lost it. A nil or empty ids removes
// the tag from everyone. The tag is trimmed and checked as in AddTags
// (ErrInvalidTag). Every ID must be a live customer's as the batch sees
// it: IDs of deleted customers, or at or past the next ID to be assigned,
// give an error wrapping ErrNotFound that counts them and names the first
// few, before anything changes. ids is not changed.
//
// It is the inverse of Segment.WriteTo and ReadIDs: a set of IDs exported,
// changed elsewhere and read back becomes a tag. To add the tag to ids
// without removing it from anyone, pass the union of ids and the tag's
// current holders (Segment(Tag(tag)).IDs()).
func (tx *Tx) SetTagMembers(tag string, ids *roaring.Bitmap) (added, removed int, err error) {
	if err := tx.checkWrite(); err != nil {
		return 0, 0, err
	}
	tags, err := normTags("set members of tag", []string{tag})
	if err != nil {
		return 0, 0, err
	}
	if ids == nil {
		ids = roaring.New()
	}
	missing := ids.Clone()
	if live := tx.current(bmKey{bkLive, ""}); live != nil {
		missing.AndNot(live)
	}
	if !missing.IsEmpty() {
		return 0, 0, fmt.Errorf("tagseg: set members of tag %q: %s: %w", tags[0], describeMissing(missing, tx.nextID), ErrNotFound)
	}
	// By the tag's bitmap and journal entries (journal.go), as
	// AddTagsToSegment: no record is read or written.
	drop := roaring.New()
	if holders := tx.current(bmKey{bkTag, tags[0]}); holders != nil {
		drop = roaring.AndNot(holders, ids)
	}
	removed = int(tx.tagBulk(tags[0], drop, false).GetCardinality())
	added = int(tx.tagBulk(tags[0], ids, true).GetCardinality())
	return added, removed, nil
}

// SetTagMembers makes the customers with the dense IDs of ids exactly the
// holders of tag, in one durable transaction; see Tx.SetTagMembers.
func (ix *Index) SetTagMembers(tag string, ids *roaring.Bitmap) (added, removed int, err error) {
	err = ix.write1(func(tx *Tx) error { added, removed, err = tx.SetTagMembers(tag, ids); return err })
	if err != nil {
		return 0, 0, err
	}
	return added, removed, nil
}

// describeMissing says which IDs of missing name no customer: how many,
// split into deleted ones and ones at or past next, with the first few of
// each.
func describeMissing(missing *roaring.Bitmap, next uint32) string {
	const few = 5
	total := missing.GetCardinality()
	var nd uint64 // IDs below next: of deleted customers
	if next > 0 {
		nd = missing.Rank(next - 1)
	}
	first := func(from uint32, n uint64) string { // the first few of the n IDs from from on
		var ids []string
		it := missing.Iterator()
		it.AdvanceIfNeeded(from)
		for len(ids) < few && uint64(len(ids)) < n && it.HasNext() {
			ids = append(ids, fmt.Sprint(it.Next()))
		}
		s := strings.Join(ids, ", ")
		if n > uint64(len(ids)) {
			s += ", …"
		}
		return s
	}
	var parts []string
	if nd > 0 {
		parts = append(parts, fmt.Sprintf("%d of deleted customers (%s)", nd, first(0, nd)))
	}
	if np := total - nd; np > 0 {
		last := "there is no customer yet"
		if next > 0 {
			last = fmt.Sprintf("the last ID is %d", next-1)
		}
		parts = append(parts, fmt.Sprintf("%d past the end, where %s (%s)", np, last, first(next, np)))
	}
	what := "IDs name"
	if total == 1 {
		what = "ID names"
	}
	return fmt.Sprintf("%d %s no customer: %s", total, what, strings.Join(parts, "; "))
}
