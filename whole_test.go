package tagseg

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// storedForm reports how the file holds a tag: whole, and in how many chunks.
func storedForm(t *testing.T, ix *Index, tag string) (whole bool, chunkN int) {
	t.Helper()
	err := ix.View(func(tx *Tx) error {
		b := tx.btx.Bucket(bktBm)
		whole = b.Get(wholeKey(tag)) != nil
		c := b.Cursor()
		for k, _ := c.Seek([]byte{bkTag}); k != nil && k[0] == bkTag; k, _ = c.Next() {
			if string(k[3:]) == tag {
				chunkN++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return whole, chunkN
}

func checkForm(t *testing.T, ix *Index, tag string, want uint64) {
	t.Helper()
	n, err := ix.Count(Tag(tag))
	if err != nil || n != want {
		t.Fatalf("count of %s: %d, %v; want %d", tag, n, err, want)
	}
	whole, chunkN := storedForm(t, ix, tag)
	switch {
	case n == 0 && (whole || chunkN > 0):
		t.Fatalf("empty tag %s still stored: whole %v, %d chunks", tag, whole, chunkN)
	case isWhole(n) && (!whole || chunkN > 0):
		t.Fatalf("tag %s of %d: whole %v, %d chunks; want whole only", tag, n, whole, chunkN)
	case n > wholeMax && (whole || chunkN == 0):
		t.Fatalf("tag %s of %d: whole %v, %d chunks; want chunks only", tag, n, whole, chunkN)
	}
}

// A tag is stored whole while it has at most wholeMax customers and in
// chunks above, changing form as it crosses, through every write path,
// and reads the same before and after reopening.
func TestWholeTagForms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forms.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	var uuids []string
	err := ix.Update(func(tx *Tx) error {
		for i := range 3 * 65536 / 100 { // spread over three chunks
			c, err := tx.CreateCustomer(Customer{ExternalID: fmt.Sprint(i), Tags: []string{fmt.Sprint("g", i%3)}})
			if err != nil {
				return err
			}
			uuids = append(uuids, c.UUID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkForm(t, ix, "g0", 656)
	// One at a time across the line, up and down.
	for i := range wholeMax + 3 {
		if _, err := ix.AddTags(uuids[i], "x"); err != nil {
			t.Fatal(err)
		}
		if i >= wholeMax-2 {
			checkForm(t, ix, "x", uint64(i+1))
		}
	}
	for i := wholeMax + 2; i >= wholeMax-3; i-- {
		if _, err := ix.RemoveTags(uuids[i], "x"); err != nil {
			t.Fatal(err)
		}
		checkForm(t, ix, "x", uint64(i))
	}
	// In bulk, both ways, and to nothing.
	if n, err := ix.AddTagsToSegment(Tag("g1"), "x"); err != nil || n == 0 {
		t.Fatal(n, err)
	}
	bulk, _ := ix.Count(Tag("x"))
	checkForm(t, ix, "x", bulk)
	if _, err := ix.RemoveTagsFromSegment(Tag("g1"), "x"); err != nil {
		t.Fatal(err)
	}
	small, _ := ix.Count(Tag("x"))
	checkForm(t, ix, "x", small)
	if _, err := ix.RemoveTagsFromSegment(All(), "x"); err != nil {
		t.Fatal(err)
	}
	checkForm(t, ix, "x", 0)
	// Deleting customers shrinks a tag too.
	if _, err := ix.AddTagsToSegment(All(), "y"); err != nil {
		t.Fatal(err)
	}
	for _, u := range uuids[:len(uuids)-wholeMax] {
		if err := ix.DeleteCustomer(u); err != nil {
			t.Fatal(err)
		}
	}
	checkForm(t, ix, "y", wholeMax)
	ix.Close()
	ix = openTestAt(t, path, nil)
	checkForm(t, ix, "y", wholeMax)
	checkForm(t, ix, "g2", uint64(wholeMax/3+1))
}

// Load writes tags in chunks and stores the small ones whole at its end,
// including a tag stored whole before it that grew past wholeMax; a file
// that a Load left with small tags in chunks is repaired by a writable
// Open and read right by a read-only one.
func TestWholeTagsAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	for i := range 100 {
		mustCreate(t, ix, Customer{Tags: []string{"grows", "stays", fmt.Sprint("own", i)}})
	}
	checkForm(t, ix, "grows", 100)
	var cs []Customer
	for i := range 700 {
		tags := []string{"grows", "new-big"}
		if i < 10 {
			tags = append(tags, "stays", "new-small")
		}
		cs = append(cs, Customer{Tags: tags})
	}
	if n, err := ix.Load(loadSeq(cs, nil)); err != nil || n != 700 {
		t.Fatal(n, err)
	}
	checkForm(t, ix, "grows", 800)
	checkForm(t, ix, "stays", 110)
	checkForm(t, ix, "new-big", 700)
	checkForm(t, ix, "new-small", 10)
	checkForm(t, ix, "own7", 1)
	ix.Close()

	// As if a Load died before its end: "stays" back in chunks.
	editFile(t, path, func(btx *bolt.Tx) error {
		b := btx.Bucket(bktBm)
		v, err := openVal(b.Get(wholeKey("stays")))
		if err != nil {
			return err
		}
		bm, err := decodeWhole(v)
		if err != nil {
			return err
		}
		if err := b.Delete(wholeKey("stays")); err != nil {
			return err
		}
		return putChunks(b, bmKey{bkTag, "stays"}, bm)
	})
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := ro.Count(Tag("stays")); n != 110 {
		t.Errorf("read-only, small tag in chunks: %d, want 110", n)
	}
	if whole, chunkN := storedForm(t, ro, "stays"); whole || chunkN == 0 {
		t.Errorf("read-only Open changed the file: whole %v, %d chunks", whole, chunkN)
	}
	ro.Close()
	ix = openTestAt(t, path, nil)
	checkForm(t, ix, "stays", 110)
	if n, err := ix.RemoveTagsFromSegment(Tag("new-small"), "stays"); err != nil || n != 10 {
		t.Fatal(n, err)
	}
	checkForm(t, ix, "stays", 100)
}
