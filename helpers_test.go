package tagseg

import (
	"flag"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: from the clock)")

// testSeed returns the seed for a randomized test and logs it.
func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// openTest opens a fresh index in a temporary directory, fast (NoSync),
// and checks its consistency when the test ends.
func openTest(t testing.TB) *Index {
	t.Helper()
	return openTestAt(t, filepath.Join(t.TempDir(), "test.db"), &Options{NoSync: true})
}

// openTestAt opens the index at path for a test. Unless opts sets a
// Clock, relative dates (now-30d) resolve against modelClock's day, as the
// model of the random expressions (randExpr) reads them.
func openTestAt(t testing.TB, path string, opts *Options) *Index {
	t.Helper()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = modelClock
	}
	ix, err := Open(path, &o)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := ix.Check(); err != nil && !ix.closed.Load() {
			t.Errorf("consistency check at cleanup: %v", err)
		}
		ix.Close()
	})
	return ix
}

func mustCreate(t testing.TB, ix *Index, c Customer) Customer {
	t.Helper()
	out, err := ix.CreateCustomer(c)
	if err != nil {
		t.Fatalf("CreateCustomer(%+v): %v", c, err)
	}
	return out
}

func mustSegment(t testing.TB, ix *Index, e Expr) *Segment {
	t.Helper()
	s, err := ix.Segment(e)
	if err != nil {
		t.Fatalf("Segment(%v): %v", e, err)
	}
	return s
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// editFile changes a closed index file with bbolt directly, in one
// transaction: for tests that set up what a crash or damage leaves.
func editFile(t *testing.T, path string, fn func(btx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}
