package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server"
)

// A host service mounts tagseg's API under /tagseg/ in its own mux, beside
// its own routes: http.StripPrefix hands the handler the paths it knows.
func Example() {
	dir, err := os.MkdirTemp("", "tagseg-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ix, err := tagseg.Open(filepath.Join(dir, "customers.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.CreateCustomer(tagseg.Customer{Email: "ops@acme.test", Tags: []string{"plan-pro"}}); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/tagseg/", http.StripPrefix("/tagseg", server.New(ix, server.Options{APIKey: "key_123"})))
	host := httptest.NewServer(mux)
	defer host.Close()

	get := func(path string) {
		req, _ := http.NewRequest("GET", host.URL+path, nil)
		req.SetBasicAuth("key_123", "") // ChartMogul's scheme: the key as the user name
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s %d %s", path, resp.StatusCode, body)
	}
	get("/healthz")
	get("/tagseg/v1/ping")
	get("/tagseg/v1/segments/metrics?query=tag:plan-pro")
	// Output:
	// /healthz 200 ok
	// /tagseg/v1/ping 200 {"data":"pong!"}
	// /tagseg/v1/segments/metrics?query=tag:plan-pro 200 {"query":"tag:plan-pro","customers":1,"paying":0,"mrr":0,"arr":0,"arpa":0,"unknown_tags":[]}
}

// An executor sees every write of the API as a Command: here one that
// writes each to a log (as a replicated host would append it to its own)
// before applying it locally.
func ExampleExecutor() {
	dir, err := os.MkdirTemp("", "tagseg-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ix, err := tagseg.Open(filepath.Join(dir, "customers.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.CreateCustomer(tagseg.Customer{UUID: "cus_1", Email: "ops@acme.test"}); err != nil {
		log.Fatal(err)
	}

	local := server.Local(ix)
	logged := server.ExecutorFunc(func(ctx context.Context, cmd server.Command) (server.Result, error) {
		entry, err := json.Marshal(cmd)
		if err != nil {
			return server.Result{}, err
		}
		fmt.Printf("log: %s\n", entry)
		var applied server.Command // what a node applies: the decoded entry
		if err := json.Unmarshal(entry, &applied); err != nil {
			return server.Result{}, err
		}
		return local.Execute(ctx, applied)
	})
	h := server.New(ix, server.Options{
		Executor: logged,
		Now:      func() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) },
	})
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "http://localhost/v1/customers/cus_1/attributes/tags", strings.NewReader(`{"tags": ["vip"]}`)),
		httptest.NewRequest("POST", "http://localhost/v1/customers/cus_1/mrr", strings.NewReader(`{"mrr": 4900}`)), // now, fixed in the command
		httptest.NewRequest("PUT", "http://localhost/v1/segments/saved/vips", strings.NewReader(`{"query": "tag:vip"}`)),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	// Output:
	// log: {"op":"add_tags","uuid":"cus_1","tags":["vip"]}
	// 200
	// log: {"op":"set_mrr","uuid":"cus_1","at":"2025-03-01T12:00:00Z","cents":4900}
	// 200
	// log: {"op":"save_segment","query":"tag:vip","name":"vips"}
	// 200
}
