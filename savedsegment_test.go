package tagseg

import (
	"errors"
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
