package tagseg_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

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

// The biggest customers first, a page at a time: ReadCustomersByMRR walks
// the MRR bit planes, so a page never sorts the segment; the next page
// starts after the last customer's MRR and ID. MRRSpan is where a series
// of all the data starts and ends.
func ExampleSegment_ReadCustomersByMRR() {
	dir, _ := os.MkdirTemp("", "tagseg-example")
	defer os.RemoveAll(dir)
	ix, err := tagseg.Open(filepath.Join(dir, "customers.db"), &tagseg.Options{NoSync: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ix.Close()
	for i, cents := range []int64{500, 9900, 0, 9900, 1500} {
		c, _ := ix.CreateCustomer(tagseg.Customer{UUID: fmt.Sprintf("cus_%d", i)})
		ix.SetMRR(c.UUID, time.Date(2024, time.Month(1+i), 1, 0, 0, 0, 0, time.UTC), cents)
	}
	seg, _ := ix.Segment(tagseg.All())
	var after *tagseg.MRRPosition
	for page := 1; page <= 2; page++ {
		n := 0
		for c, err := range seg.ReadCustomersByMRR(true, after) {
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Println(page, c.UUID, c.MRR)
			after = &tagseg.MRRPosition{MRR: c.MRR, ID: c.ID}
			if n++; n == 3 {
				break
			}
		}
	}
	first, last, _, _ := ix.MRRSpan()
	fmt.Println(first.Format(time.DateOnly), last.Format(time.DateOnly))
	// Output:
	// 1 cus_1 9900
	// 1 cus_3 9900
	// 1 cus_4 1500
	// 2 cus_0 500
	// 2 cus_2 0
	// 2024-01-01 2024-05-01
}
