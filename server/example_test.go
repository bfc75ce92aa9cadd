package server_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

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
