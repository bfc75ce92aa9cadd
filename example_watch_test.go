package tagseg_test

import (
	"fmt"
	"log"

	"github.com/tagseg/tagseg"
)

// Who entered and who left a saved segment, commit by commit, read with a
// cursor that a reader keeps between calls (and restarts).
func ExampleIndex_Changes() {
	ix, done := openExample()
	defer done()

	acme, _ := ix.CreateCustomer(tagseg.Customer{UUID: "cus_acme", Name: "Acme", Tags: []string{"churn-risk-high"}})
	globex, _ := ix.CreateCustomer(tagseg.Customer{UUID: "cus_globex", Name: "Globex"})

	// Saving records the members then as the first change.
	if err := ix.SaveSegment("at-risk", "tag:churn-risk-high"); err != nil {
		log.Fatal(err)
	}
	page, err := ix.Changes("at-risk", tagseg.ChangesOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range page.Changes {
		fmt.Println("entered:", c.Entered, "left:", c.Left)
	}
	cursor := page.Cursor // the reader keeps it

	// Later commits: each that changes the members records one change.
	ix.AddTags(globex.UUID, "churn-risk-high")
	ix.RemoveTags(acme.UUID, "churn-risk-high")
	ix.DeleteCustomer(globex.UUID) // a deleted customer leaves, still named

	page, err = ix.Changes("at-risk", tagseg.ChangesOptions{After: cursor, Names: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range page.Changes {
		fmt.Println("entered:", c.Entered, "left:", c.Left)
	}
	fmt.Println(page.Names[globex.UUID], page.HasMore)
	// Output:
	// entered: [cus_acme] left: []
	// entered: [cus_globex] left: []
	// entered: [] left: [cus_acme]
	// entered: [] left: [cus_globex]
	// Globex false
}
