package tagseg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Regression tests for bugs the reliability tests found, each small and
// aimed at the one bug.

// Check ran bbolt's page check in a read transaction, which bbolt documents
// as unsafe alongside a writer, and reloaded the file in several read
// transactions that could see different commits: under concurrent writes it
// reported corruption that was not there.
func TestCheckAlongsideWriter(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Email: "a@b.c"})
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for i := range 300 {
			if _, err := ix.AddTags(c.UUID, fmt.Sprint("t", i)); err != nil {
				t.Error(err)
				return
			}
			if _, err := ix.CreateCustomer(Customer{Tags: []string{"x"}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	checks := 0
	for !done.Load() {
		if err := ix.Check(); err != nil {
			t.Fatalf("Check alongside a writer, after %d good ones: %v", checks, err)
		}
		checks++
	}
	wg.Wait()
	t.Logf("%d checks alongside 600 writes", checks)
}

// Check compared the in-memory email table with the one loaded from the
// file entry by entry, but which ID of a shared email hash the table keeps
// first depends on the order a batch applied them (map order): a batch
// creating customers who share a new email made Check report corruption.
func TestCheckEmailTableOrder(t *testing.T) {
	ix := openTest(t)
	for round := range 5 {
		email := fmt.Sprintf("shared%d@x.com", round)
		err := ix.Update(func(tx *Tx) error {
			for range 20 {
				if _, err := tx.CreateCustomer(Customer{Email: email}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// Reads that use both the in-memory state and a bbolt read transaction
// (CustomersByEmail: records from the file, MRR from memory; name, company
// and external_id conditions: records from the file, live set and tags from
// memory) could begin their read transaction after a writer's commit and
// before the writer applied it in memory, and return a mix of the two
// states. Here every committed state has MRR = 100 × the number of tags of
// the customer, and a torn read breaks that.
func TestReadsDoNotMixCommits(t *testing.T) {
	writes := 300
	if testing.Short() || raceEnabled {
		writes = 120
	}
	// Durable writes: the fsync widens the window between commit and apply.
	ix := openTestAt(t, filepath.Join(t.TempDir(), "mix.db"), nil)
	c := mustCreate(t, ix, Customer{Email: "mix@x.com", Name: "Mix", Tags: []string{"n"}})
	if err := ix.SetMRR(c.UUID, day(2024, 1, 1), 100); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !done.Load() {
				cs, err := ix.CustomersByEmail("mix@x.com")
				if err != nil || len(cs) != 1 {
					t.Errorf("CustomersByEmail: %v, %v", cs, err)
					return
				}
				if got := cs[0]; got.MRR != 100*int64(len(got.Tags)) {
					t.Errorf("torn read: %d tags and MRR %d", len(got.Tags), got.MRR)
					return
				}
				// The customer is replaced in every batch: exactly one is
				// named Mix and tagged "n" in every committed state.
				seg, err := ix.Segment(And(Where("name", Eq, "Mix"), Tag("n")))
				if err != nil || seg.Count() != 1 {
					t.Errorf("torn read: %d customers named Mix and tagged n, err %v", seg.Count(), err)
					return
				}
				reads.Add(1)
			}
		})
	}
	u := c.UUID
	var err error
	for i := 0; i < writes && err == nil; i++ {
		err = ix.Update(func(tx *Tx) error {
			old, err := tx.Customer(u)
			if err != nil {
				return err
			}
			if err := tx.DeleteCustomer(u); err != nil {
				return err
			}
			nc, err := tx.CreateCustomer(Customer{Email: "mix@x.com", Name: "Mix", Tags: append(old.Tags, fmt.Sprint("t", i))})
			if err != nil {
				return err
			}
			u = nc.UUID
			return tx.SetMRR(u, time.Unix(0, 0).Add(time.Duration(i)*time.Hour), 100*int64(len(old.Tags)+1))
		})
	}
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes, %d pairs of reads", writes, reads.Load())
}

// ---- damaged files, made by hand ----

// boltFile is a closed bbolt file in memory, with what its newest meta page
// says (native byte order, as bbolt writes it; see pagecheck.go).
type boltFile struct {
	data     []byte
	ps       int
	hwm      uint64 // pages below it are in use or free
	freelist uint64 // the free list's page
}

func readBoltFile(t *testing.T, path string) *boltFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.NativeEndian.Uint32(data[24:]))
	meta := data[:ps]
	if other := data[ps : 2*ps]; binary.NativeEndian.Uint64(other[64:]) > binary.NativeEndian.Uint64(meta[64:]) {
		meta = other
	}
	return &boltFile{data: data, ps: ps, hwm: binary.NativeEndian.Uint64(meta[56:]), freelist: binary.NativeEndian.Uint64(meta[48:])}
}

func (b *boltFile) page(id uint64) []byte { return b.data[int(id)*b.ps : int(id+1)*b.ps] }

// setFreeList replaces the IDs the free list holds.
func (b *boltFile) setFreeList(t *testing.T, ids []uint64) {
	t.Helper()
	p := b.page(b.freelist)
	if len(ids) > b.ps/8-3 {
		t.Fatalf("%d free IDs do not fit", len(ids))
	}
	slices.Sort(ids)
	binary.NativeEndian.PutUint16(p[10:], uint16(len(ids)))
	for i, id := range ids {
		binary.NativeEndian.PutUint64(p[16+8*i:], id)
	}
}

func (b *boltFile) write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, b.data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeIDs is what the free list holds now.
func (b *boltFile) freeIDs() []uint64 {
	p := b.page(b.freelist)
	var ids []uint64
	for i := range int(binary.NativeEndian.Uint16(p[10:])) {
		ids = append(ids, binary.NativeEndian.Uint64(p[16+8*i:]))
	}
	return ids
}

// damagedFixture writes a sound index of a few hundred customers, closes
// it, and returns its path and the root pages of its buckets.
func damagedFixture(t *testing.T) (string, map[string]uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = ix.Update(func(tx *Tx) error {
		for i := range 300 {
			c, err := tx.CreateCustomer(Customer{Name: fmt.Sprint("customer number ", i), Email: fmt.Sprint(i, "@x.com"), Tags: []string{"a", fmt.Sprint("t", i%7)}})
			if err != nil {
				return err
			}
			if err := tx.SetMRR(c.UUID, day(2024, 1, 1), int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	roots := map[string]uint64{}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			roots[string(name)] = uint64(b.Root())
			return nil
		})
	})
	return path, roots
}

// Check returned on the first error of bbolt's page check without
// draining its channel, so bbolt's check goroutine was left blocked on
// its next error for ever, or, with no further error, walking the pages
// of a transaction that was closed, and of a file unmapped by Close: a
// segmentation fault that killed the process.
func TestCheckDrainsBboltCheck(t *testing.T) {
	path, roots := damagedFixture(t)
	b := readBoltFile(t, path)
	// Pages in use listed as free: bbolt's check reports each of them.
	b.setFreeList(t, append(b.freeIDs(), roots["cust"], roots["uuid"], roots["ev"]))
	b.write(t, path)
	ix, err := Open(path, &Options{ReadOnly: true}) // a write would reuse them
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	if err := ix.Check(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check: %v, want ErrCorrupt", err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines before Check, %d after: bbolt's check goroutine outlived it", before, runtime.NumGoroutine())
}

// bbolt's page check trusts the page headers, in a goroutine of its own:
// a damaged overflow count made it loop up to 2^32 times building a map (a
// hang, and gigabytes), a child page out of the file made it fault, with
// no guard to turn that into an error. Check now walks the page tree
// itself first (checkPages).
func TestCheckDamagedPageHeader(t *testing.T) {
	path, roots := damagedFixture(t)
	b := readBoltFile(t, path)
	binary.NativeEndian.PutUint32(b.page(roots["cust"])[12:], math.MaxUint32) // overflow count
	b.write(t, path)
	ix, err := Open(path, &Options{ReadOnly: true}) // Open does not read the customer records
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Check(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check: %v, want ErrCorrupt", err)
	}
}

// A file cut short could open: bbolt maps it without looking at its
// length, and Open reads only some buckets (bitmaps, columns, histories),
// so a file missing the pages of, say, the saved segments opened and
// failed later. Open now checks the file holds every page below bbolt's
// high-water mark.
func TestOpenTruncated(t *testing.T) {
	path, _ := damagedFixture(t)
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// A long saved query: pages of its own, at the end of the file.
	q := strings.Repeat("tag:a OR ", 20000) + "tag:b"
	if err := ix.SaveSegment("long", q); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	b := readBoltFile(t, path)
	var segRoot uint64
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error { segRoot = uint64(tx.Bucket(bktSeg).Root()); return nil })
	db.Close()
	if err := os.Truncate(path, int64(segRoot+1)*int64(b.ps)); err != nil { // the query's first page only
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		ix, err := Open(path, &Options{ReadOnly: ro})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(ReadOnly: %v) of a truncated file: %v, want ErrCorrupt", ro, err)
		}
		if err == nil {
			ix.Close()
		}
	}
}

// A free list naming a page past the end of the file made Open fail with
// whatever the file system said when the no-op commit of Open wrote its
// new free list there ("file too large"), not ErrCorrupt.
func TestOpenFreeListPastEnd(t *testing.T) {
	path, _ := damagedFixture(t)
	b := readBoltFile(t, path)
	b.setFreeList(t, []uint64{1 << 40})
	b.write(t, path)
	ix, err := Open(path, nil)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open: %v, want ErrCorrupt", err)
	}
	if err == nil {
		ix.Close()
	}
}

// bbolt panics in Commit on a free list that lists a page twice or a page
// in use ("page 5 already freed"); the panic went through Update (and
// through Open, which commits once) to the caller.
func TestCommitPanicIsErrCorrupt(t *testing.T) {
	path, _ := damagedFixture(t)
	b := readBoltFile(t, path)
	// The commit frees the old free list page, which the list already has.
	b.setFreeList(t, append(b.freeIDs(), b.freelist))
	b.write(t, path)
	ix, err := Open(path, nil)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open: %v, want ErrCorrupt", err)
	}
	if err == nil {
		ix.Close()
	}
}

// Open sized its in-memory columns (56 bytes an ID) by the stored next ID
// before anything vouched for it: one damaged byte there asked for
// gigabytes, and a next ID a little too large went unnoticed.
func TestOpenDamagedNextID(t *testing.T) {
	path, _ := damagedFixture(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyNext, u32key(nil, 300+1<<20)) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Open(path, nil)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open: %v, want ErrCorrupt", err)
	}
	if err == nil {
		ix.Close()
	}
}

// Errors about a damaged key printed all of it: a key is up to 32 KiB, and
// a damaged key size makes bbolt hand out a slice of up to 4 GiB of the
// map, so Open spent seconds building error messages of megabytes.
func TestCorruptKeyInErrorIsClipped(t *testing.T) {
	for _, tc := range []struct{ bucket, key []byte }{
		{bktBm, append([]byte{bkTag, 0, 0}, strings.Repeat("x", 30000)...)}, // and a value that is no bitmap
		{bktCol, bytes.Repeat([]byte{2}, 30000)},                            // a key of the last column
	} {
		path, _ := damagedFixture(t)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(tc.bucket).Put(tc.key, []byte("junk")) })
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, err = Open(path, nil)
		if !errors.Is(err, ErrCorrupt) || len(err.Error()) > 500 {
			t.Errorf("bucket %s: Open: %d bytes of error, want ErrCorrupt in at most 500:\n%.600s", tc.bucket, len(err.Error()), err)
		}
	}
}

// decodeHist rejected a time delta above MaxInt64, but SetMRR accepts any
// instant of the years 1678–2261, and from one end of that range to the
// other is more: two valid SetMRR calls (1700 and 2250) made the history
// unreadable, Check report corruption and the index fail to reopen.
func TestMRRHistorySpansTheTimeRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "span.db")
	ix := openTestAt(t, path, nil)
	c := mustCreate(t, ix, Customer{})
	first, last := time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC)
	for i, at := range []time.Time{first, last} {
		if err := ix.SetMRR(c.UUID, at, int64(100*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openTestAt(t, path, nil)
	got, err := ix.Customer(c.UUID)
	if err != nil || got.MRR != 200 {
		t.Fatalf("after reopen: MRR %d, %v; want 200 (the 2261 event)", got.MRR, err)
	}
	h := ix.cur.Load().hist.at(got.ID)
	if len(h) != 2 || h[0].at != first.UnixNano() || h[1].at != last.UnixNano() {
		t.Fatalf("history after reopen: %v", h)
	}
}

// A damaged value size in the root bucket's page (the buckets' headers)
// went unnoticed at Open, and bbolt copies an unaligned bucket header on
// every use of the bucket: every read copied the rest of the file. Open
// now checks the root bucket's pages.
func TestOpenDamagedBucketHeader(t *testing.T) {
	path, _ := damagedFixture(t)
	b := readBoltFile(t, path)
	meta := b.data[:b.ps]
	if other := b.data[b.ps : 2*b.ps]; binary.NativeEndian.Uint64(other[64:]) > binary.NativeEndian.Uint64(meta[64:]) {
		meta = other
	}
	p := b.page(binary.NativeEndian.Uint64(meta[32:]))
	found := false
	for i := range int(binary.NativeEndian.Uint16(p[10:])) {
		e := p[16+16*i:]
		pos, ksize := binary.NativeEndian.Uint32(e[4:]), binary.NativeEndian.Uint32(e[8:])
		if string(e[pos:pos+ksize]) == "cust" {
			binary.NativeEndian.PutUint32(e[12:], 100_001) // vsize
			found = true
		}
	}
	if !found {
		t.Fatal("no bucket cust in the root page")
	}
	b.write(t, path)
	for _, ro := range []bool{true, false} {
		ix, err := Open(path, &Options{ReadOnly: ro})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(ReadOnly: %v): %v, want ErrCorrupt", ro, err)
		}
		if err == nil {
			ix.Close()
		}
	}
}

// decodeHist and decodeRecord sized their slices by the length of the
// value, and a damaged page hands out values of up to 4 GiB: one damaged
// size made Open allocate 16 bytes of history for every 4 bytes of it
// (seconds, and gigabytes) before finding the first bad event.
func TestDecodersDoNotTrustLengths(t *testing.T) {
	v := make([]byte, 16<<20)                                 // an event at 0, then a zero time step: bad
	rec := append([]byte{recordVersion}, make([]byte, 12)...) // empty strings, no times
	rec = binary.AppendUvarint(rec, 16<<20)                   // that many tags…
	rec = binary.AppendUvarint(rec, 1<<40)                    // …of which the first is too long
	rec = append(rec, v...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := decodeHist(v); err == nil {
		t.Fatal("decodeHist accepts a zero time step")
	}
	if _, err := decodeRecord(1, rec); err == nil {
		t.Fatal("decodeRecord accepts a bad tag")
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("decoding values of 16 MiB that fail at once allocated %d bytes", got)
	}
}

// SetMRR accepted any non-negative int64: one customer at MaxInt64 had an
// ARR of -12, two made a segment's MRR -2. It now stops at 2^40-1 cents.
func TestMRRAboveMaximum(t *testing.T) {
	ix := openTest(t)
	a := mustCreate(t, ix, Customer{Tags: []string{"big"}})
	b := mustCreate(t, ix, Customer{Tags: []string{"big"}})
	if err := ix.SetMRR(a.UUID, day(2024, 1, 1), math.MaxInt64); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetMRR(MaxInt64): %v, want ErrInvalid", err)
	}
	for _, u := range []string{a.UUID, b.UUID} {
		if err := ix.SetMRR(u, day(2024, 1, 1), maxMRR); err != nil {
			t.Fatal(err)
		}
	}
	if s := mustSegment(t, ix, Tag("big")); s.MRR() != 2*maxMRR || s.ARR() != 24*maxMRR {
		t.Fatalf("MRR %d, ARR %d", s.MRR(), s.ARR())
	}
}

// The evaluator kept the unknown tags of a query in a slice and searched
// it for each tag: a query naming 100,000 tags nobody has (1 MB of text)
// took some 20 s of CPU under the read lock, holding off every writer's
// apply. Without the fix this test takes that long.
func TestManyUnknownTags(t *testing.T) {
	ix := openTest(t)
	mustCreate(t, ix, Customer{Tags: []string{"known"}})
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	var names []string
	for i := range n {
		names = append(names, fmt.Sprint("u", i), fmt.Sprint("u", i/2)) // each twice
	}
	s := mustSegment(t, ix, Or(AnyTag(names...), Tag("known")))
	if s.Count() != 1 {
		t.Fatalf("count %d", s.Count())
	}
	u := s.UnknownTags()
	if len(u) != n || u[0] != "u0" || u[1] != "u1" || u[n-1] != fmt.Sprint("u", n-1) {
		t.Fatalf("%d unknown tags: %q…", len(u), u[:min(len(u), 4)])
	}
}

// Open(ReadOnly) of an empty file let bbolt try to write a new file's
// pages through a read-only descriptor: "write …: bad file descriptor",
// no sentinel. An empty file is not an index: ErrCorrupt. (Opened for
// writing, an empty file is a new index, as a missing one is.)
func TestReadOnlyEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ix, err := Open(path, &Options{ReadOnly: true})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("read-only Open of an empty file: %v, want ErrCorrupt", err)
	}
	if err == nil {
		ix.Close()
	}
}

// A damaged newest meta page made bbolt open the commit before it without
// a word: an acknowledged write lost silently. Open now refuses such a
// file, naming the page; with AcceptLostCommit it opens the surviving
// commit, and a writable open's first commit repairs the page.
func TestDamagedMetaPageIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	ix, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, ix, Customer{Tags: []string{"a"}})
	if _, err := ix.AddTags(c.UUID, "last"); err != nil { // the newest commit
		t.Fatal(err)
	}
	ix.Close()
	b := readBoltFile(t, path)
	newest := 0
	if binary.NativeEndian.Uint64(b.page(1)[64:]) > binary.NativeEndian.Uint64(b.page(0)[64:]) {
		newest = 1
	}
	b.page(uint64(newest))[40] ^= 0x10 // inside the root bucket's page ID
	b.write(t, path)

	for _, ro := range []bool{false, true} {
		_, err := Open(path, &Options{ReadOnly: ro})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprint("meta page ", newest)) {
			t.Fatalf("Open(ReadOnly %v) with a damaged newest meta page: %v, want ErrCorrupt naming the path and the page", ro, err)
		}
	}
	ix, err = Open(path, &Options{AcceptLostCommit: true})
	if err != nil {
		t.Fatalf("Open with AcceptLostCommit: %v", err)
	}
	got, err := ix.Customer(c.UUID)
	if err != nil || !slices.Equal(got.Tags, []string{"a"}) {
		t.Fatalf("after AcceptLostCommit: %+v, %v; want the commit before (tags [a])", got, err)
	}
	if err := ix.Check(); err != nil {
		t.Fatalf("Check after the repairing open: %v", err)
	}
	ix.Close()
	ix = openTestAt(t, path, nil) // repaired: opens without the option
	if n, err := ix.Count(Tag("last")); err != nil || n != 0 {
		t.Errorf("count of the lost tag: %d, %v", n, err)
	}
}
