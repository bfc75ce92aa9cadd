package tagseg_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tagseg/tagseg"
)

// A repeated read is answered from the kept answer, brought forward over
// the writes since: here the second Segment sees the new customer without
// evaluating the segment again.
func ExampleIndex_CacheStats() {
	dir, err := os.MkdirTemp("", "tagseg-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ix, err := tagseg.Open(filepath.Join(dir, "customers.db"), &tagseg.Options{CacheBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()

	vip := tagseg.Tag("vip")
	ix.CreateCustomer(tagseg.Customer{Tags: []string{"vip"}})
	seg, _ := ix.Segment(vip) // evaluated, then kept
	fmt.Println(seg.Count())

	ix.CreateCustomer(tagseg.Customer{Tags: []string{"vip"}})
	seg, _ = ix.Segment(vip) // the kept answer, brought forward over the create
	fmt.Println(seg.Count())

	cs := ix.CacheStats()
	fmt.Println(cs.Hits, cs.Misses, cs.Entries)
	// Output:
	// 1
	// 2
	// 1 1 1
}
