package tagseg

import (
	"fmt"
	"testing"
)

// The email table (seconds to build at 10M customers) is not built while
// the writer's lock is held: AddTagsByEmail builds it before taking the
// lock, and a write in Update that looks up an email before any reader
// built it scans the email column instead.
func TestEmailTableNotBuiltUnderTheWriter(t *testing.T) {
	ix := openTest(t)
	for i := range 50 {
		mustCreate(t, ix, Customer{Email: fmt.Sprint(i%10, "@x.test")})
	}
	path := ix.Path()
	ix.Close()
	ix = openTestAt(t, path, &Options{NoSync: true}) // the table unbuilt
	builds, underWriter := 0, 0
	emailBuildHook = func() {
		builds++
		if !ix.wmu.TryLock() {
			underWriter++
			return
		}
		ix.wmu.Unlock()
	}
	defer func() { emailBuildHook = nil }()
	err := ix.Update(func(tx *Tx) error {
		cs, err := tx.AddTagsByEmail("3@X.test", "in-update")
		if err != nil {
			return err
		}
		if len(cs) != 5 {
			t.Errorf("AddTagsByEmail in Update: %d customers, want 5", len(cs))
		}
		seg, err := tx.Segment(Where("email", Eq, "4@x.test"))
		if err != nil {
			return err
		}
		if seg.Count() != 5 {
			t.Errorf("Segment(email = 4@x.test) in Update: %d, want 5", seg.Count())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ix.AddTagsByEmail("5@x.test", "by-email")
	if err != nil || len(cs) != 5 {
		t.Fatalf("AddTagsByEmail: %d customers, %v", len(cs), err)
	}
	if underWriter > 0 || builds != 1 {
		t.Errorf("the email table was built %d times, %d of them under the writer's lock; want once, by AddTagsByEmail before the lock", builds, underWriter)
	}
	for tag, want := range map[string]uint64{"in-update": 5, "by-email": 5} {
		if n, err := ix.Count(Tag(tag)); err != nil || n != want {
			t.Errorf("Count(%s): %d, %v", tag, n, err)
		}
	}
}
