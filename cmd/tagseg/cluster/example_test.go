package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/cmd/tagseg/cluster"
)

// A cluster of one: the node bootstraps, elects itself, and applies a
// command through the log; the index holds its writes and the entry's
// index.
func ExampleStart() {
	dir, _ := os.MkdirTemp("", "cluster")
	defer os.RemoveAll(dir)
	apply := func(tx *tagseg.Tx, cmd []byte) (any, error) { // the command: a customer to create
		return tx.CreateCustomer(tagseg.Customer{UUID: string(cmd)})
	}
	n, err := cluster.Start(context.Background(), cluster.Config{
		ID: "n1", RaftAddr: "127.0.0.1:0", Index: filepath.Join(dir, "index.db"), Apply: apply,
		Logger: hclog.NewNullLogger(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Shutdown()
	for !n.IsLeader() { // a cluster of one elects itself in about a second
		time.Sleep(10 * time.Millisecond)
	}
	res, err := n.Apply(context.Background(), []byte("cus_1"))
	if err != nil || res.Err != nil {
		fmt.Println(err, res)
		return
	}
	ix, release := n.Index()
	defer release()
	count, _ := ix.Count(tagseg.All())
	applied, _ := ix.Applied()
	fmt.Println(count, applied == res.Index)
	// Output: 1 true
}
