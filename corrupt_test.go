package tagseg

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Corrupt and foreign files. Every way of damaging a file must end in one
// of these, never in a panic, a crash of the process (a SIGBUS on a mapped
// page past the end of a truncated file) or a silently wrong index:
//
//   - Open fails with an error wrapping ErrCorrupt or ErrVersion;
//   - Open succeeds, and a read or Check reports ErrCorrupt;
//   - Open succeeds, Check passes and every read gives what the intact
//     file gives, except for what no check can see (undetectable below).
//
// One kind of damage is not survivable: a page tree made cyclic, a branch
// page pointing back at its own ancestor (cyclicPages finds them; about one
// file in a hundred with random flips in pages in use). bbolt's cursor
// then recurses without end, and Go stops the process with a fatal stack
// overflow that no guard can turn into an error, or loops growing its
// stack of pages. Check finds such a cycle (checkPages), but reads, and
// Open's load of the bitmaps, columns and histories, may meet it first;
// finding it at Open would take a walk of every branch page of the file.
// Most such files are still rejected first (Open: ErrCorrupt); the test
// tries them in a child process and counts the crashes as "crashed:
// cyclic page tree".
//
// Since format 2 every stored value carries a CRC-32C and Open checks both
// meta pages, so no flipped byte may go unseen: a flip in a record, an
// MRR history, a column block or a bitmap chunk fails its checksum where
// it is read, and a damaged meta page (bbolt would open the commit before
// it) makes Open fail. The test fails on any "undetected" outcome. What
// stays undetectable in principle is listed in undetectable: the values
// no second copy confirms, should a flip ever match its checksum.

// corruptRef is a sound file and what reads give on it.
type corruptRef struct {
	data       []byte
	pageSize   int
	used       []int             // pages in use (meta, freelist, branch, leaf)
	snap, prev map[string]string // reads of the file, and of the commit before
}

var corruptExprs = []Expr{
	All(),
	Tag("vip"),
	And(Tag("plan-pro"), Not(Tag("churn-risk-high"))),
	Where("country", Eq, "US"),
	Where("custom.plan", Eq, "pro"),
	Where("lead_created_at", Gte, day(2024, 1, 1)),
}

// snapshotIndex reads everything the tests compare, by the category of
// what it reads (the key's last element). A read error is returned.
func snapshotIndex(ix *Index) (map[string]string, error) {
	s := map[string]string{}
	seg, err := ix.Segment(All())
	if err != nil {
		return nil, err
	}
	n := 0
	for c := range seg.Customers() {
		n++
		k := "cust/" + c.UUID + "/"
		s[k+"name"], s[k+"company"], s[k+"email"] = c.Name, c.Company, c.Email
		s[k+"mrr"] = fmt.Sprint(c.MRR)
		c.Name, c.Company, c.Email, c.MRR = "", "", "", 0
		s[k+"record"] = customerKey(c)
		got, err := ix.Customer(c.UUID)
		if err != nil {
			return nil, err
		}
		s[k+"customer"] = customerKey(got)
	}
	if uint64(n) != seg.Count() {
		// Customers() skips what it cannot read; a short read is an error.
		return nil, fmt.Errorf("segment of %d customers yields %d: %w", seg.Count(), n, ErrCorrupt)
	}
	for _, email := range emailPool[:4] {
		cs, err := ix.CustomersByEmail(email)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.UUID) // the customers themselves: above
		}
		s["email/"+email+"/ids"] = fmt.Sprint(ids)
	}
	s["tags/count"] = fmt.Sprint(maps.Collect(ix.Tags()))
	for i, e := range corruptExprs {
		seg, err := ix.Segment(e)
		if err != nil {
			return nil, err
		}
		s[fmt.Sprintf("seg/%d/count", i)] = fmt.Sprint(seg.Count(), seg.IDs().String())
		s[fmt.Sprintf("seg/%d/mrr", i)] = fmt.Sprint(seg.MRR(), seg.Paying())
	}
	stats, err := ix.TagStats(All(), TagStatsOptions{})
	if err != nil {
		return nil, err
	}
	s["stats/mrr"] = fmt.Sprint(stats)
	p, err := ix.Series(All(), day(2023, 1, 1), day(2025, 12, 1), Month)
	if err != nil {
		return nil, err
	}
	s["series/mrr"] = fmt.Sprint(p)
	var saved []string
	for name, q := range ix.SavedSegments() {
		saved = append(saved, name+"="+q)
	}
	s["saved/saved"] = fmt.Sprint(saved)
	return s, nil
}

// undetectable reports whether a difference in the reads of key is one no
// check can see (see the top of the file).
func undetectable(key, want, got string) bool {
	switch key[strings.LastIndexByte(key, '/')+1:] {
	case "name", "company", "mrr", "saved":
		return true
	case "email":
		return strings.EqualFold(want, got)
	case "customer":
		return true // a Customer differs where the parts above do
	}
	return false
}

// buildCorruptRef writes a sound file with a few hundred customers and
// reads it.
func buildCorruptRef(t *testing.T, r *rand.Rand) *corruptRef {
	path := filepath.Join(t.TempDir(), "ref.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var uuids []string
	err = ix.Update(func(tx *Tx) error {
		for i := range 400 {
			c := randCustomer(r, 0)
			c.ExternalID = fmt.Sprint("ext-", i)
			c.Company = pick(r, []string{"Acme", "Initech", ""})
			got, err := tx.CreateCustomer(c)
			if err != nil {
				return err
			}
			uuids = append(uuids, got.UUID)
			for range r.IntN(4) {
				if err := tx.SetMRR(got.UUID, randTime(r), int64(r.IntN(100))*100); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uuids[:50] {
		if err := ix.DeleteCustomer(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.SaveSegment("pro", "tag:plan-pro AND mrr > 0"); err != nil {
		t.Fatal(err)
	}
	ref := &corruptRef{}
	if ref.prev, err = snapshotIndex(ix); err != nil {
		t.Fatal(err)
	}
	// The last commit: a bbolt fallback to the previous meta page loses it.
	if _, err := ix.AddTags(uuids[60], "last-commit"); err != nil {
		t.Fatal(err)
	}
	if ref.snap, err = snapshotIndex(ix); err != nil {
		t.Fatal(err)
	}
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if ref.data, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	// bbolt grows a file 16 MiB at a time once its map is large: keep 32
	// pages past the high-water mark (truncations there must leave the
	// index intact), not megabytes copied for every damaged file.
	if b := readBoltFile(t, path); len(ref.data) > int(b.hwm+32)*b.ps {
		ref.data = ref.data[:int(b.hwm+32)*b.ps]
		if err := os.WriteFile(path, ref.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := bolt.Open(path, 0o600, nil) // Page needs the freelist: not read-only
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ref.pageSize = db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error {
		for id := 0; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type != "free" {
				for i := 0; i <= p.OverflowCount; i++ {
					ref.used = append(ref.used, id+i)
				}
				id += p.OverflowCount
			}
		}
	})
	if err != nil || len(ref.used) == 0 {
		t.Fatalf("listing the pages in use: %v", err)
	}
	return ref
}

// corruptOutcome counts how damaged files were handled.
type corruptOutcome map[string]int

func (o corruptOutcome) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, o[k]))
	}
	return strings.Join(parts, ", ")
}

// corruptRun is what opening, reading and checking a damaged file gave.
type corruptRun struct {
	Open, Read, Check         string // errors, "" for none
	OpenCorrupt, OpenVersion  bool   // errors.Is
	ReadCorrupt, CheckCorrupt bool
	Snap                      map[string]string
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// runCorrupt opens the file at path, reads it (reads must not panic,
// whatever they meet), then checks it.
func runCorrupt(path string, readOnly bool) *corruptRun {
	res := &corruptRun{}
	ix, err := Open(path, &Options{ReadOnly: readOnly, NoSync: true})
	if err != nil {
		res.Open, res.OpenCorrupt, res.OpenVersion = err.Error(), errors.Is(err, ErrCorrupt), errors.Is(err, ErrVersion)
		return res
	}
	defer ix.Close()
	snap, rerr := snapshotIndex(ix)
	cerr := ix.Check()
	res.Snap = snap
	res.Read, res.ReadCorrupt = errString(rerr), errors.Is(rerr, ErrCorrupt)
	res.Check, res.CheckCorrupt = errString(cerr), errors.Is(cerr, ErrCorrupt)
	return res
}

// tryCorrupt opens a damaged copy of ref, reads it and checks it, and
// returns how it was handled, or an error if it was handled wrongly.
// inMeta tells whether the damage touches bbolt's meta pages. A file with
// a cyclic page tree is tried in a child process, where the fatal stack
// overflow it may cause ends only the child.
func tryCorrupt(t *testing.T, ref *corruptRef, data []byte, readOnly, inMeta bool) (string, error) {
	path := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var res *corruptRun
	if cyc := cyclicPages(data); cyc != "" {
		var crash string
		res, crash = runCorruptChild(t, path, readOnly)
		if crash != "" {
			return crash, nil
		}
	} else {
		res = runCorrupt(path, readOnly)
	}
	if res.Open != "" {
		if !strings.Contains(res.Open, path) {
			return "", fmt.Errorf("Open: %v: does not name the path", res.Open)
		}
		switch {
		case res.OpenCorrupt:
			return "Open: ErrCorrupt", nil
		case res.OpenVersion:
			return "Open: ErrVersion", nil
		}
		return "", fmt.Errorf("Open: %v, want ErrCorrupt or ErrVersion", res.Open)
	}
	// Once Check has found the damage, what the reads said does not matter:
	// a damaged UUID entry, say, makes Customer say ErrNotFound.
	snap := res.Snap
	switch {
	case res.Check != "" && !res.CheckCorrupt:
		return "", fmt.Errorf("Check: %v, want ErrCorrupt", res.Check)
	case res.Check != "":
		return "Check: ErrCorrupt", nil
	case res.Read != "" && !res.ReadCorrupt:
		return "", fmt.Errorf("Check passes but a read fails: %v", res.Read)
	case res.Read != "":
		return "read: ErrCorrupt", nil
	}
	cats, bad := compareSnap(ref.snap, snap)
	prefix := "undetected: "
	if len(bad) > 0 && inMeta {
		// A damaged newest meta page: bbolt opens the commit before.
		if c, b := compareSnap(ref.prev, snap); len(b) == 0 {
			cats, bad, prefix = c, nil, "undetected: previous commit (meta page) + "
		}
	}
	if len(bad) > 0 {
		if len(bad) > 5 {
			bad = append(bad[:5], fmt.Sprintf("… %d more", len(bad)-5))
		}
		return "", fmt.Errorf("Check passes, but reads differ from the intact file:\n%s", strings.Join(bad, "\n"))
	}
	if len(cats) == 0 {
		if prefix == "undetected: " {
			return "intact", nil
		}
		return "undetected: previous commit (meta page)", nil
	}
	return prefix + strings.Join(cats, "+"), nil
}

// compareSnap lists the categories of the differences between two
// snapshots that no check can see, and describes the others.
func compareSnap(want, got map[string]string) (cats, bad []string) {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w, g := want[k], got[k]
		if w == g {
			continue
		}
		if _, ok := got[k]; ok && undetectable(k, w, g) {
			cat := k[strings.LastIndexByte(k, '/')+1:]
			if !slices.Contains(cats, cat) {
				cats = append(cats, cat)
			}
			continue
		}
		bad = append(bad, fmt.Sprintf("%s: %.200q, want %.200q", k, g, w))
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, "unexpected "+k)
		}
	}
	slices.Sort(cats)
	return cats, bad
}

func TestCorruptFiles(t *testing.T) {
	truncs, flips := 100, 600
	switch {
	case testing.Short():
		truncs, flips = 15, 60
	case raceEnabled:
		truncs, flips = 50, 200
	}
	seed := testSeed(t)
	r := newRand(seed)
	ref := buildCorruptRef(t, r)
	hwm := len(ref.used) // not the high-water mark: pages in use
	t.Logf("reference file: %d bytes, %d pages of %d bytes, %d in use", len(ref.data), len(ref.data)/ref.pageSize, ref.pageSize, hwm)

	t.Run("truncated", func(t *testing.T) {
		out := corruptOutcome{}
		maxUsed := (slices.Max(ref.used) + 1) * ref.pageSize
		for i := range truncs {
			// Mostly inside the pages in use; sometimes anywhere, or
			// inside the two meta pages.
			n := r.IntN(maxUsed)
			switch i % 6 {
			case 0:
				n = r.IntN(len(ref.data))
			case 1:
				n = r.IntN(2 * ref.pageSize)
			}
			got, err := tryCorrupt(t, ref, ref.data[:n], i%3 == 0, n < 2*ref.pageSize)
			if err != nil {
				t.Fatalf("truncated to %d of %d bytes: %v", n, len(ref.data), err)
			}
			if got != "Open: ErrCorrupt" {
				t.Logf("truncated to %d: %s", n, got)
			}
			out[got]++
		}
		t.Logf("%d truncations: %v", truncs, out)
	})

	t.Run("truncated underneath", func(t *testing.T) {
		// The file cut short while open: the pages past the end are still
		// mapped, and reading them raises SIGBUS, which the guard must
		// turn into ErrCorrupt rather than let it kill the process.
		for _, ro := range []bool{true, false} {
			path := filepath.Join(t.TempDir(), "under.db")
			if err := os.WriteFile(path, ref.data, 0o600); err != nil {
				t.Fatal(err)
			}
			ix, err := Open(path, &Options{ReadOnly: ro, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 3*int64(ref.pageSize)); err != nil {
				t.Fatal(err)
			}
			_, rerr := snapshotIndex(ix)
			_, serr := ix.Segment(Where("name", Eq, "x")) // reads every record
			cerr := ix.Check()
			for _, err := range []error{rerr, serr, cerr} {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("read-only %v: %v, want ErrCorrupt", ro, err)
				}
			}
			// SetPanicOnFault turns the SIGBUS into this runtime error.
			if !strings.Contains(serr.Error(), "invalid memory address") {
				t.Errorf("read-only %v: %v: no memory fault was met", ro, serr)
			}
			ix.Close()
		}
	})

	t.Run("foreign", func(t *testing.T) {
		dir := t.TempDir()
		file := func(name string, data []byte) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		// A bbolt file made by fn, and a copy of the sound index changed by fn.
		boltAt := func(p string, opts *bolt.Options, fn func(tx *bolt.Tx) error) string {
			db, err := bolt.Open(p, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(fn); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return p
		}
		boltFile := func(name string, opts *bolt.Options, fn func(tx *bolt.Tx) error) string {
			return boltAt(filepath.Join(dir, name), opts, fn)
		}
		ours := func(name string, fn func(tx *bolt.Tx) error) string {
			return boltAt(file(name, ref.data), nil, fn)
		}
		noise := make([]byte, 1<<16)
		for i := range noise {
			noise[i] = byte(r.Uint32())
		}
		for _, tc := range []struct {
			name string
			path string
			want error
		}{
			{"random bytes, one page", file("noise4k", noise[:4096]), ErrCorrupt},
			{"random bytes, 64 KiB", file("noise64k", noise), ErrCorrupt},
			{"a few bytes", file("short", []byte("tagseg")), ErrCorrupt},
			{"SQLite database", file("sqlite", append([]byte("SQLite format 3\x00\x10\x00\x01\x01"), make([]byte, 8192)...)), ErrCorrupt},
			{"bbolt file of another program", boltFile("widgets", nil, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			}), ErrCorrupt},
			{"bbolt file with a meta bucket of its own", boltFile("othermeta", nil, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bktMeta)
				if err != nil {
					return err
				}
				return b.Put([]byte("owner"), []byte("someone else"))
			}), ErrCorrupt},
			{"version of 3 bytes", ours("v3bytes", func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyVersion, []byte{0, 0, 1}) }), ErrCorrupt},
			{"version 0", ours("v0", func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyVersion, u32key(nil, 0)) }), ErrVersion},
			{"newer version", ours("v2", func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyVersion, u32key(nil, formatVersion+1)) }), ErrVersion},
			{"a bucket missing", ours("noev", func(tx *bolt.Tx) error { return tx.DeleteBucket(bktEv) }), ErrCorrupt},
			{"no next ID", ours("nonext", func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Delete(keyNext) }), ErrCorrupt},
			{"a history of a customer beyond the next ID", ours("evbeyond", func(tx *bolt.Tx) error {
				return tx.Bucket(bktEv).Put(u32key(nil, 1<<30), encodeHist([]mrrEvent{{1, 1}}))
			}), ErrCorrupt},
			{"a bitmap chunk of an unknown kind", ours("kind", func(tx *bolt.Tx) error { return tx.Bucket(bktBm).Put([]byte("z\x00\x00x"), []byte{1}) }), ErrCorrupt},
		} {
			for _, ro := range []bool{false, true} {
				ix, err := Open(tc.path, &Options{ReadOnly: ro})
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("%s (read-only %v): Open: %v, want %v naming the path", tc.name, ro, err, tc.want)
				}
				if err == nil {
					ix.Close()
				}
			}
		}
		// Not foreign: a bbolt file with 16 KiB pages and nothing in it
		// becomes an index, which the page checks read right.
		path := boltFile("bigpages", &bolt.Options{PageSize: 16384}, func(*bolt.Tx) error { return nil })
		ix, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = ix.Update(func(tx *Tx) error {
			for i := range 500 {
				if _, err := tx.CreateCustomer(Customer{Name: fmt.Sprint("c", i), Tags: []string{"a"}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = ix.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		ix = openTestAt(t, path, &Options{ReadOnly: true})
		if err := ix.Check(); err != nil || mustSegment(t, ix, Tag("a")).Count() != 500 {
			t.Fatalf("16 KiB pages: %v", err)
		}
	})

	t.Run("cyclic", func(t *testing.T) {
		// The UUID bucket's root page made its own first child: Open does
		// not read that bucket, Customer does.
		path := filepath.Join(t.TempDir(), "ref.db")
		if err := os.WriteFile(path, ref.data, 0o600); err != nil {
			t.Fatal(err)
		}
		b := readBoltFile(t, path)
		rdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var root uint64
		rdb.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(bktUUID).Root()); return nil })
		rdb.Close()
		p := b.page(root)
		if binary.NativeEndian.Uint16(p[8:]) != 0x01 {
			t.Skipf("the UUID bucket's root page %d is not a branch page", root)
		}
		binary.NativeEndian.PutUint64(p[16+8:], root)
		if cyclicPages(b.data) == "" {
			t.Fatal("cyclicPages misses the cycle")
		}
		got, err := tryCorrupt(t, ref, b.data, true, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("UUID bucket's root page %d its own child: %s", root, got)
	})

	t.Run("flipped", func(t *testing.T) {
		out := corruptOutcome{}
		for i := range flips {
			data := slices.Clone(ref.data)
			var where []string
			inMeta := false
			for range 1 + r.IntN(3) {
				page := pick(r, ref.used)
				if i%10 == 0 {
					page = r.IntN(2) // a meta page
				}
				off := page*ref.pageSize + r.IntN(ref.pageSize)
				if r.IntN(2) == 0 {
					off = page*ref.pageSize + r.IntN(64) // the header and first elements
				}
				inMeta = inMeta || page < 2
				bit := byte(1) << r.IntN(8)
				if r.IntN(4) == 0 {
					bit = byte(1 + r.IntN(255)) // a random byte
				}
				data[off] ^= bit
				where = append(where, fmt.Sprintf("%d^%#x (page %d)", off, bit, page))
			}
			if cyc := cyclicPages(data); cyc != "" {
				t.Logf("flipped %v: %s: tried in a child process", where, cyc)
			}
			start := time.Now()
			got, err := tryCorrupt(t, ref, data, i%3 == 0, inMeta)
			if err != nil {
				t.Fatalf("flipped %v: %v", where, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Logf("flipped %v: %s, took %v", where, got, d)
			}
			if strings.HasPrefix(got, "undetected") {
				t.Errorf("flipped %v: %s", where, got)
			}
			out[got]++
		}
		t.Logf("%d files with 1–3 bytes flipped in pages in use: %v", flips, out)
	})
}

// cyclicPages reports a cycle in the page tree bbolt would read from a file
// of 4 KiB pages, following what bbolt's cursor follows: the root bucket of
// the newest valid meta page, the children of branch pages (at least the
// first, which the cursor reads even from an empty branch) and the roots of
// buckets, as far as the file goes.
func cyclicPages(data []byte) string {
	const ps = 4096
	ne := binary.NativeEndian
	var root, txid uint64
	found := false
	for m := 0; m < 2 && (m+1)*ps <= len(data); m++ {
		meta := data[m*ps+16 : m*ps+80]
		h := fnv.New64a()
		h.Write(meta[:56])
		if ne.Uint32(meta) != 0xED0CDAED || ne.Uint32(meta[4:]) != 2 || h.Sum64() != ne.Uint64(meta[56:]) {
			continue
		}
		if t := ne.Uint64(meta[48:]); !found || t > txid {
			root, txid, found = ne.Uint64(meta[16:]), t, true
		}
	}
	if !found {
		return ""
	}
	const (
		onPath = 1
		done   = 2
	)
	state := map[uint64]int{}
	var walk func(id uint64) string
	walk = func(id uint64) string {
		switch state[id] {
		case onPath:
			return fmt.Sprintf("page %d is its own ancestor", id)
		case done:
			return ""
		}
		if id > uint64(len(data)/ps) || (id+1)*ps > uint64(len(data)) {
			return "" // out of the file: bbolt faults, and the guard catches that
		}
		state[id] = onPath
		defer func() { state[id] = done }()
		p := data[id*ps:]
		flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
		switch flags {
		case 0x01:
			for i := range max(count, 1) {
				e := 16 + 16*i
				if e+16 > len(p) {
					break
				}
				if c := walk(ne.Uint64(p[e+8:])); c != "" {
					return c
				}
			}
		case 0x02:
			for i := range count {
				e := 16 + 16*i
				if e+16 > len(p) {
					break
				}
				if ne.Uint32(p[e:])&1 == 0 {
					continue
				}
				v := uint64(e) + uint64(ne.Uint32(p[e+4:])) + uint64(ne.Uint32(p[e+8:]))
				if v+8 > uint64(len(p)) {
					continue
				}
				if r := ne.Uint64(p[v:]); r != 0 {
					if c := walk(r); c != "" {
						return c
					}
				}
			}
		}
		return ""
	}
	return walk(root)
}

const corruptEnv = "TAGSEG_CORRUPT_CHILD"

// TestCorruptChild opens, reads and checks one damaged file for
// TestCorruptFiles, in a child process, and prints the corruptRun as JSON.
func TestCorruptChild(t *testing.T) {
	path := os.Getenv(corruptEnv)
	if path == "" {
		t.Skip("the child process of TestCorruptFiles")
	}
	// A cycle ends in a stack overflow: let it come at 64 MB, not 1 GB;
	// or in a loop growing the cursor's stack: stop it at 512 MB of heap.
	debug.SetMaxStack(64 << 20)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			time.Sleep(20 * time.Millisecond)
			metrics.Read(s)
			if s[0].Value.Uint64() > 512<<20 {
				buf := make([]byte, 1<<20)
				fmt.Fprintf(os.Stderr, "runaway heap: %d bytes\n%s", s[0].Value.Uint64(), buf[:runtime.Stack(buf, true)])
				os.Exit(3)
			}
		}
	}()
	res := runCorrupt(path, os.Getenv(corruptEnv+"_RO") == "1")
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	os.NewFile(3, "result").Write(b)
}

// runCorruptChild runs runCorrupt in a child process. When the child dies
// of the cyclic page tree, crash says so; when it dies of anything else,
// the test fails.
func runCorruptChild(t *testing.T, path string, readOnly bool) (res *corruptRun, crash string) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCorruptChild$", "-test.count=1")
	ro := "0"
	if readOnly {
		ro = "1"
	}
	cmd.Env = append(os.Environ(), corruptEnv+"="+path, corruptEnv+"_RO="+ro)
	cmd.ExtraFiles = []*os.File{pw}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	out, _ := io.ReadAll(pr)
	werr := cmd.Wait()
	timer.Stop()
	if werr == nil {
		res = &corruptRun{}
		if err := json.Unmarshal(out, res); err != nil {
			t.Fatalf("child: %v: %q", err, out)
		}
		return res, ""
	}
	e := stderr.String()
	if (strings.Contains(e, "stack overflow") || strings.Contains(e, "runaway heap")) && strings.Contains(e, "bbolt.(*Cursor)") {
		return nil, "crashed: cyclic page tree"
	}
	t.Fatalf("child on %s died: %v\n%.3000s", path, werr, e)
	return nil, ""
}
