package tagseg_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/tagseg/tagseg"
)

// A segment's dense IDs go out in the portable Roaring format, which
// CRoaring, Java's RoaringBitmap and pg_roaringbitmap read, and
// a set of IDs in that format comes back as exactly the holders of a tag.
func ExampleSegment_WriteTo() {
	ix, done := openExample()
	defer done()
	for i := range 6 {
		tags := []string{"trial"}
		if i%2 == 0 {
			tags = append(tags, "plan-pro")
		}
		if _, err := ix.CreateCustomer(tagseg.Customer{ExternalID: fmt.Sprint(i), Tags: tags}); err != nil {
			log.Fatal(err)
		}
	}
	seg, err := ix.Segment(tagseg.Tag("plan-pro"))
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer // or a file, for another engine
	n, err := seg.WriteTo(&buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", seg.Count(), "IDs in", n, "bytes")

	// Elsewhere, the set was read, changed and written back.
	ids, err := tagseg.ReadIDs(&buf)
	if err != nil {
		log.Fatal(err)
	}
	ids.Add(1)
	ids.Remove(4)
	fmt.Println("read back and changed:", ids.ToArray())

	// Make it a tag: holders are exactly these IDs afterwards.
	added, removed, err := ix.SetTagMembers("call-this-week", ids)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added", added, "removed", removed)
	added, removed, _ = ix.SetTagMembers("trial", ids)
	fmt.Println("trial: added", added, "removed", removed)

	// An ID that is not a customer's changes nothing.
	ids.Add(99)
	_, _, err = ix.SetTagMembers("call-this-week", ids)
	fmt.Println(err)
	// Output:
	// wrote 3 IDs in 22 bytes
	// read back and changed: [0 1 2]
	// added 3 removed 0
	// trial: added 0 removed 3
	// tagseg: set members of tag "call-this-week": 1 ID names no customer: 1 past the end, where the last ID is 5 (99): not found
}
