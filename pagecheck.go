package tagseg

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"os"

	bolt "go.etcd.io/bbolt"
)

// checkPages walks the bbolt page tree of the file as btx sees it, reading
// the pages with ReadAt rather than through the memory map, and reports
// the first structural problem: a page out of the file or beyond the
// high-water mark, a page reached twice (a cycle), a page that is neither
// a branch nor a leaf, an element that points outside its page.
//
// Check runs it before bbolt's own page check (tx.Check), which trusts
// the structure: it runs in a goroutine of its own, where a page out of
// the file faults with no guard to turn the fault into an error, it
// recurses without end on a cycle, and it loops over a damaged overflow
// count up to 2^32 times. On a tree that passes here it does none of that.
//
// The layout (bbolt's, native byte order): a page is a 16-byte header
// (id u64, flags u16, count u16, overflow u32) then count 16-byte elements;
// a branch element is (pos u32, ksize u32, pgid u64), a leaf element
// (flags u32, pos u32, ksize u32, vsize u32), pos counting from the
// element; a bucket's value (leaf flag 1) is (root u64, sequence u64),
// followed by the bucket's page when root is 0 (an inline bucket). The meta
// page holds the root bucket at offset 32, the free list's page at 48 and
// the transaction ID at 64; the free list page holds count page IDs (u64)
// after its header, or the count in its first u64 when count is 0xFFFF.
func checkPages(path string, btx *bolt.Tx) error {
	c, meta, err := openChecker(path, btx)
	if err != nil {
		return err
	}
	defer c.f.Close()
	return c.bucket(meta[32:48], 0)
}

// checkFile checks what bbolt takes on trust when it opens a file, cheaply:
// that the file holds every page below the high-water mark (a truncated
// file does not: reads of the missing pages would fault), that the free
// list names only pages below it (bbolt would hand one out to the next
// write, and write far past the end of the file), and that the root
// bucket's pages are sound.
func checkFile(path string, btx *bolt.Tx) error {
	c, meta, err := openChecker(path, btx)
	if err != nil {
		return err
	}
	defer c.f.Close()
	fl := ne.Uint64(meta[48:])
	if fl == math.MaxUint64 { // no free list stored
		return nil
	}
	if fl < 2 || fl >= c.hwm {
		return fmt.Errorf("free list page %d out of bounds (high-water mark %d)", fl, c.hwm)
	}
	hdr := make([]byte, 24)
	if _, err := c.f.ReadAt(hdr, int64(fl*c.ps)); err != nil {
		return fmt.Errorf("free list page %d: %v", fl, err)
	}
	if flags := ne.Uint16(hdr[8:]); flags != 0x10 {
		return fmt.Errorf("free list page %d: flags %#x", fl, flags)
	}
	off, n := uint64(16), uint64(ne.Uint16(hdr[10:]))
	if n == 0xFFFF { // the count is the first element
		off, n = 24, ne.Uint64(hdr[16:])
	}
	if over := uint64(ne.Uint32(hdr[12:])); n > ((over+1)*c.ps-off)/8 || fl+over >= c.hwm {
		return fmt.Errorf("free list page %d: %d entries in %d overflow pages", fl, n, over)
	}
	ids := make([]byte, n*8)
	if _, err := c.f.ReadAt(ids, int64(fl*c.ps+off)); err != nil {
		return fmt.Errorf("free list page %d: %v", fl, err)
	}
	for i := uint64(0); i < n; i++ {
		if id := ne.Uint64(ids[i*8:]); id < 2 || id >= c.hwm {
			return fmt.Errorf("free list names page %d, out of bounds (high-water mark %d)", id, c.hwm)
		}
	}
	// The root bucket's pages, which hold the buckets' headers: bbolt
	// copies a bucket's value on each use when it is unaligned, so one
	// damaged value size made every read copy megabytes.
	c.shallow = true
	return c.bucket(meta[32:48], 0)
}

// openChecker opens the file for reading with ReadAt, checks it holds
// every page below btx's high-water mark, and returns the first 80 bytes
// of btx's meta page.
func openChecker(path string, btx *bolt.Tx) (*pageChecker, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	c := &pageChecker{f: f, ps: uint64(btx.DB().Info().PageSize), seen: map[uint64]bool{}}
	c.hwm = uint64(btx.Size()) / c.ps
	fail := func(err error) (*pageChecker, []byte, error) {
		f.Close()
		return nil, nil, err
	}
	if fi, err := f.Stat(); err != nil {
		return fail(err)
	} else if uint64(fi.Size()) < c.hwm*c.ps {
		return fail(fmt.Errorf("file truncated: %d bytes, its pages need %d", fi.Size(), c.hwm*c.ps))
	}
	for id := uint64(0); id < 2; id++ {
		m := make([]byte, 80)
		if _, err := f.ReadAt(m, int64(id*c.ps)); err != nil {
			return fail(fmt.Errorf("meta page %d: %v", id, err))
		}
		if ne.Uint64(m[64:]) == uint64(btx.ID()) {
			return c, m, nil
		}
	}
	return fail(fmt.Errorf("no meta page of transaction %d", btx.ID()))
}

var ne = binary.NativeEndian

type pageChecker struct {
	f       *os.File
	ps      uint64 // page size
	hwm     uint64 // pages below it exist
	seen    map[uint64]bool
	shallow bool // check the root bucket's pages, not the buckets' trees
}

// bucket checks the tree of a bucket, given its value (see checkPages).
func (c *pageChecker) bucket(v []byte, depth int) error {
	if len(v) < 16 {
		return fmt.Errorf("bucket value of %d bytes", len(v))
	}
	if root := ne.Uint64(v); root != 0 {
		if len(v) != 16 { // bbolt stores the header alone
			return fmt.Errorf("bucket value of %d bytes", len(v))
		}
		if c.shallow && depth > 0 {
			return nil
		}
		return c.tree(root, depth)
	}
	return c.node(v[16:], 0, depth) // inline
}

// tree checks the page id and everything under it.
func (c *pageChecker) tree(id uint64, depth int) error {
	if depth > 64 {
		return fmt.Errorf("page %d: tree deeper than 64", id)
	}
	if id < 2 || id >= c.hwm {
		return fmt.Errorf("page %d: out of bounds (high-water mark %d)", id, c.hwm)
	}
	hdr := make([]byte, 16)
	if _, err := c.f.ReadAt(hdr, int64(id*c.ps)); err != nil {
		return fmt.Errorf("page %d: %v", id, err)
	}
	over := uint64(ne.Uint32(hdr[12:]))
	if got := ne.Uint64(hdr); got != id {
		return fmt.Errorf("page %d: header says page %d", id, got)
	}
	if id+over >= c.hwm {
		return fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, over, c.hwm)
	}
	for i := id; i <= id+over; i++ {
		if c.seen[i] {
			return fmt.Errorf("page %d: reached twice", i)
		}
		c.seen[i] = true
	}
	p := make([]byte, (over+1)*c.ps)
	if _, err := c.f.ReadAt(p, int64(id*c.ps)); err != nil {
		return fmt.Errorf("page %d: %v", id, err)
	}
	return c.node(p, id, depth)
}

// node checks a page (id 0: an inline bucket's) and its children.
func (c *pageChecker) node(p []byte, id uint64, depth int) error {
	if len(p) < 16 {
		return fmt.Errorf("page %d: %d bytes", id, len(p))
	}
	flags, count := ne.Uint16(p[8:]), uint64(ne.Uint16(p[10:]))
	if flags != 0x01 && flags != 0x02 {
		return fmt.Errorf("page %d: flags %#x, not a branch or leaf page", id, flags)
	}
	if 16+count*16 > uint64(len(p)) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	for i := range count {
		e := p[16+i*16:]
		switch flags {
		case 0x01: // branch
			pos, ksize := uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:]))
			if 16+i*16+pos+ksize > uint64(len(p)) {
				return fmt.Errorf("page %d: branch element %d points outside the page", id, i)
			}
			if err := c.tree(ne.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case 0x02: // leaf
			fl, pos, ksize, vsize := ne.Uint32(e), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
			start := 16 + i*16 + pos + ksize
			if start+vsize > uint64(len(p)) {
				return fmt.Errorf("page %d: leaf element %d points outside the page", id, i)
			}
			if fl&0x01 != 0 {
				if err := c.bucket(p[start:start+vsize], depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkMetas checks both meta pages. bbolt opens a file whose newest meta
// page fails its checksum as of the commit before, silently: the last
// commit, possibly an acknowledged one, is lost. A healthy file always has
// two sound meta pages (bbolt writes both when it creates a file, and
// each commit rewrites one), so one damaged page is reported.
func checkMetas(path string, btx *bolt.Tx) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ps := int64(btx.DB().Info().PageSize)
	for id := int64(0); id < 2; id++ {
		m := make([]byte, 80)
		if _, err := f.ReadAt(m, id*ps); err != nil {
			return fmt.Errorf("meta page %d: %v", id, err)
		}
		h := fnv.New64a()
		h.Write(m[16:72])
		switch {
		case ne.Uint32(m[16:]) != 0xED0CDAED:
			err = fmt.Errorf("bad magic")
		case ne.Uint32(m[20:]) != 2:
			err = fmt.Errorf("bad version %d", ne.Uint32(m[20:]))
		case h.Sum64() != ne.Uint64(m[72:]):
			err = fmt.Errorf("checksum mismatch")
		}
		if err != nil {
			return fmt.Errorf("meta page %d is damaged (%v); bbolt fell back to the commit of transaction %d, and the file may have lost the commit after it", id, err, btx.ID())
		}
	}
	return nil
}

// checkLength checks, before bbolt maps the file, that the file holds
// every page below the high-water mark of its newest sound meta page.
// bbolt reads the free list as it opens: on a truncated file that read
// faults, and the panic (turned into ErrCorrupt by safeOpen) leaves the
// file's descriptor open and its lock held, so that every later Open of
// the file in the process waits and gives ErrLocked. An empty or missing
// file, or one whose meta pages are both damaged, is left to bbolt.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it, or creates the file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	var best []byte
	ps := int64(os.Getpagesize())
	for id := int64(0); id < 2; id++ {
		m := make([]byte, 80)
		if _, err := f.ReadAt(m, id*ps); err != nil {
			continue
		}
		h := fnv.New64a()
		h.Write(m[16:72])
		if ne.Uint32(m[16:]) != 0xED0CDAED || ne.Uint32(m[20:]) != 2 || h.Sum64() != ne.Uint64(m[72:]) {
			continue
		}
		if id == 0 {
			ps = int64(ne.Uint32(m[24:])) // meta page 1 is one page on
		}
		if best == nil || ne.Uint64(m[64:]) > ne.Uint64(best[64:]) {
			best = m
		}
	}
	if best == nil {
		return nil
	}
	ps = int64(ne.Uint32(best[24:]))
	if hwm := ne.Uint64(best[56:]); hwm > uint64(math.MaxInt64/ps) || fi.Size() < int64(hwm)*ps {
		return fmt.Errorf("file truncated: %d bytes, its pages need %d", fi.Size(), int64(hwm)*ps)
	}
	return nil
}
