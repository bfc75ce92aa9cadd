package tagseg_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tagseg/tagseg"
)

// Paging through a segment: each page starts after the last customer of
// the one before, and costs the same wherever it is. ReadCustomers yields
// an error instead of ending early when a record cannot be read.
func ExampleSegment_ReadCustomers() {
	dir, _ := os.MkdirTemp("", "tagseg-example")
	defer os.RemoveAll(dir)
	ix, err := tagseg.Open(filepath.Join(dir, "customers.db"), &tagseg.Options{NoSync: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ix.Close()
	for i := range 7 {
		ix.CreateCustomer(tagseg.Customer{UUID: fmt.Sprintf("cus_%d", i), Tags: []string{"beta"}})
	}

	seg, err := ix.Segment(tagseg.Tag("beta"))
	if err != nil {
		fmt.Println(err)
		return
	}
	const perPage = 3
	var next uint32 // the dense ID the next page starts at
	for page := 1; ; page++ {
		var uuids []string
		for c, err := range seg.ReadCustomers(next) {
			if err != nil {
				fmt.Println("page failed:", err) // answer 5xx, not a short page
				return
			}
			uuids = append(uuids, c.UUID)
			next = c.ID + 1
			if len(uuids) == perPage {
				break
			}
		}
		if len(uuids) == 0 {
			break
		}
		fmt.Println("page", page, uuids)
	}
	// Output:
	// page 1 [cus_0 cus_1 cus_2]
	// page 2 [cus_3 cus_4 cus_5]
	// page 3 [cus_6]
}
