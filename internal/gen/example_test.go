package gen_test

import (
	"fmt"

	"github.com/tagseg/tagseg/internal/gen"
)

func Example() {
	g := gen.NewGenerator(gen.DefaultConfig(100_000))
	for rank := range 3 {
		fmt.Printf("%-14s %.0f%%\n", g.TagName(rank), 100*g.TagShare(rank))
	}
	c := g.Customer(42)
	fmt.Println(c.Email, c.Country, c.Tags[0], len(c.Events) > 0)
	// Output:
	// plan-starter   60%
	// newsletter     55%
	// active         49%
	// user42@eagerkite.de US plan-pro true
}
