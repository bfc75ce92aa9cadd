package tagseg

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// failCommit returns a commitHook that lets every commit through but the
// n-th (from 1), which it fails with cause after committing it (written:
// its meta page reached the file, then the sync failed) or after rolling
// it back (nothing written).
func failCommit(n int, written bool, cause error) func(btx *bolt.Tx) error {
	i := 0
	return func(btx *bolt.Tx) error {
		i++
		if i != n {
			return btx.Commit()
		}
		if written {
			if err := btx.Commit(); err != nil {
				return err
			}
		} else {
			btx.Rollback()
		}
		return cause
	}
}

// Load's finishing commits (small tags stored whole, then the external
// IDs merged) checked nothing when they failed: one whose meta page
// reached the file left the file ahead of memory, and every read that
// opens a bbolt transaction said "the file stays ahead of memory" until
// reopen. Reads must go on, writes be refused until reopen, and reopening
// give every customer Load acknowledged with its tags and external ID.
func TestLoadFinishingCommitFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int // the failing commit: 1 the batch, 2 storing small tags, 3 merging external IDs
		written bool
	}{
		{"small tags, written", 2, true},
		{"small tags, not written", 2, false},
		{"external IDs, written", 3, true},
		{"external IDs, not written", 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.db")
			ix, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			var cs []Customer
			for i := range 10 {
				cs = append(cs, Customer{UUID: fmt.Sprint("cus_", i), DataSourceUUID: "ds", ExternalID: fmt.Sprint("x", i), Tags: []string{"small"}})
			}
			cause := errors.New("injected: fdatasync: input/output error")
			commitHook = failCommit(tc.n, tc.written, cause)
			n, err := ix.Load(loadSeq(cs, nil))
			commitHook = nil
			if n != len(cs) || !errors.Is(err, cause) {
				t.Fatalf("Load: %d, %v; want %d and an error wrapping the cause", n, err, len(cs))
			}
			// Reads go on.
			for _, c := range cs {
				got, err := ix.Customer(c.UUID)
				if err != nil {
					t.Fatalf("Customer after the failed commit: %v", err)
				}
				if len(got.Tags) != 1 {
					t.Errorf("Customer %s: tags %v", c.UUID, got.Tags)
				}
			}
			if got, err := ix.CustomerByExternalID("ds", "x3"); err != nil || got.UUID != "cus_3" {
				t.Errorf("CustomerByExternalID after the failed commit: %v, %v", got.UUID, err)
			}
			if k, err := ix.Count(Tag("small")); err != nil || k != 10 {
				t.Errorf("Count(small): %d, %v", k, err)
			}
			// Writes are refused until reopen (Open completes the Load).
			if _, err := ix.CreateCustomer(Customer{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "input/output error") {
				t.Errorf("CreateCustomer after the failed commit: %v, want ErrCorrupt naming the cause", err)
			}
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			ix = openTestAt(t, path, &Options{NoSync: true})
			for _, c := range cs {
				got, err := ix.CustomerByExternalID("ds", c.ExternalID)
				if err != nil || got.UUID != c.UUID || len(got.Tags) != 1 {
					t.Errorf("after reopen, %s: %+v, %v", c.ExternalID, got, err)
				}
			}
			if k, err := ix.Count(Tag("small")); err != nil || k != 10 {
				t.Errorf("after reopen, Count(small): %d, %v", k, err)
			}
		})
	}
}

// A commit that panics after its meta page reached the file: the index
// refuses writes, and reads go on at the file's state instead of saying
// that the file stays ahead of memory.
func TestCommitPanicAfterMetaPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, ix, Customer{Tags: []string{"a"}})
	commitHook = func(btx *bolt.Tx) error {
		if err := btx.Commit(); err != nil {
			return err
		}
		panic("injected: after the meta page")
	}
	_, err = ix.AddTags(c.UUID, "b")
	commitHook = nil
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AddTags with a commit that panics: %v, want ErrCorrupt", err)
	}
	got, err := ix.Customer(c.UUID)
	if err != nil {
		t.Fatalf("Customer after the panic: %v", err)
	}
	if n, err := ix.Count(Tag("b")); err != nil || n != 1 || len(got.Tags) != 2 {
		t.Errorf("reads after the panic: Count(b) = %d, %v; tags %v; want the file's state (a, b)", n, err, got.Tags)
	}
	if _, err := ix.AddTags(c.UUID, "c"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("AddTags after the panic: %v, want ErrCorrupt", err)
	}
	ix.Close()
	ix = openTestAt(t, path, nil)
	if got, err := ix.Customer(c.UUID); err != nil || len(got.Tags) != 2 {
		t.Errorf("after reopen: %v, %v", got.Tags, err)
	}
}

// A process killed after bbolt made the file but before Open made its
// buckets leaves a bbolt file with nothing in it: read-only, it opens as
// an empty index (as it did up to reading what a Load left, which met the
// missing meta bucket with a nil pointer: ErrCorrupt); writable, Open
// makes the buckets.
func TestOpenBeforeBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of a file without buckets: %v", err)
	}
	if n, err := ro.Count(All()); err != nil || n != 0 {
		t.Errorf("Count: %d, %v", n, err)
	}
	ro.Close()
	ix := openTestAt(t, path, nil)
	mustCreate(t, ix, Customer{Tags: []string{"a"}})
}
