package tagseg

import (
	"errors"
	"strings"
	"testing"
)

func TestTxSavedSegment(t *testing.T) {
	ix := openTest(t)
	if err := ix.SaveSegment("pro", "tag:plan-pro"); err != nil {
		t.Fatal(err)
	}
	err := ix.View(func(tx *Tx) error {
		if q, err := tx.SavedSegment("pro"); err != nil || q != "tag:plan-pro" {
			t.Errorf(`SavedSegment("pro") = %q, %v`, q, err)
		}
		if _, err := tx.SavedSegment("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf(`SavedSegment("nope"): %v, want ErrNotFound`, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An Update sees a segment saved before it; its Tx refuses once the
	// Update has ended.
	var done *Tx
	err = ix.Update(func(tx *Tx) error {
		done = tx
		q, err := tx.SavedSegment("pro")
		if err != nil || q != "tag:plan-pro" {
			t.Errorf(`in Update: SavedSegment("pro") = %q, %v`, q, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := done.SavedSegment("pro"); !errors.Is(err, ErrClosed) {
		t.Errorf("SavedSegment after the Update: %v, want ErrClosed", err)
	}
}

// TestTxSaveDeleteSegment: a transaction saves and deletes segments as
// the Index's calls do, sees its own changes, and loses them when it
// rolls back; a View refuses them.
func TestTxSaveDeleteSegment(t *testing.T) {
	ix := openTest(t)
	if err := ix.SaveSegment("old", "tag:a"); err != nil {
		t.Fatal(err)
	}
	errBack := errors.New("roll back")
	err := ix.Update(func(tx *Tx) error {
		if err := tx.SaveSegment("new", "tag:b"); err != nil {
			return err
		}
		if err := tx.DeleteSegment("old"); err != nil {
			return err
		}
		if q, err := tx.SavedSegment("new"); err != nil || q != "tag:b" {
			t.Errorf(`in the Update: SavedSegment("new") = %q, %v`, q, err)
		}
		if _, err := tx.SavedSegment("old"); !errors.Is(err, ErrNotFound) {
			t.Errorf(`in the Update: SavedSegment("old") after its delete: %v`, err)
		}
		return errBack
	})
	if !errors.Is(err, errBack) {
		t.Fatalf("Update: %v", err)
	}
	got := map[string]string{}
	for n, q := range ix.SavedSegments() {
		got[n] = q
	}
	if len(got) != 1 || got["old"] != "tag:a" {
		t.Errorf("after the rollback: %v, want only old", got)
	}
	err = ix.Update(func(tx *Tx) error {
		if err := tx.SaveSegment("", "tag:a"); !errors.Is(err, ErrInvalid) {
			t.Errorf("SaveSegment with no name: %v, want ErrInvalid", err)
		}
		var se *SyntaxError
		if err := tx.SaveSegment("x", "tag:"); !errors.As(err, &se) {
			t.Errorf("SaveSegment of a bad query: %v, want a *SyntaxError", err)
		}
		if err := tx.DeleteSegment("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteSegment of an unknown name: %v, want ErrNotFound", err)
		}
		return tx.SaveSegment("new", "tag:b")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = ix.View(func(tx *Tx) error {
		if err := tx.SaveSegment("v", "tag:a"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("SaveSegment in a View: %v, want ErrReadOnly", err)
		}
		if err := tx.DeleteSegment("new"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("DeleteSegment in a View: %v, want ErrReadOnly", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := savedQuery(ix, "new"); err != nil || q != "tag:b" {
		t.Errorf(`SavedSegment("new") = %q, %v`, q, err)
	}
	if u := NewUUID(); !strings.HasPrefix(u, "cus_") || len(u) != 40 || u == NewUUID() {
		t.Errorf("NewUUID() = %q", u)
	}
}

func savedQuery(ix *Index, name string) (q string, err error) {
	err = ix.View(func(tx *Tx) error { q, err = tx.SavedSegment(name); return err })
	return q, err
}
