package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

// TestServedIndex runs every command on an index behind tagseg serve (the
// commands find the server from the serve note and go through it) and on
// a copy the commands open themselves: they must agree on what they
// refuse and leave the same customers, tags and MRR histories; the
// exports and the backup through the server are the local ones.
func TestServedIndex(t *testing.T) {
	local := importFixture(t)
	served := importFixture(t)
	p := startServe(t, served.db, "-confirm-above", "3")
	dir := t.TempDir()
	more := writeFile(t, filepath.Join(dir, "more.csv"), `uuid,data_source_uuid,external_id,name,country,tags,mrr,mrr_at,custom.seats:Integer,custom.score:Decimal,custom.renew:Timestamp,custom.ok:Boolean
cus_0101,ds_c,c-1,New One,US,"new,plan-pro",1500,2024-04-01,4,1.5,2025-01-01T00:00:00Z,true
cus_0001,,,Acme Renamed,,vip,,,,,,
cus_0102,ds_c,c-2,New Two,DE,new,,,,,,
,ds_c,c-1,New One Again,,,,,,,,
`)
	events := writeFile(t, filepath.Join(dir, "events.csv"), "uuid,date,mrr\ncus_0101,2024-05-01,2500\ncus_0002,2024-03-01,9900\ncus_nobody,2024-01-01,5\n")
	bitmap := filepath.Join(dir, "pro.roaring")
	steps := []struct {
		code int
		args []string
	}{
		{1, []string{"import", "-mrr-at", "2024-05-01", more}}, // the last row names c-1 again: refused
		{1, []string{"import", "-events", events}},             // cus_nobody: refused
		{0, []string{"import", "-events", events, "-skip-bad"}},
		{0, []string{"tag", "-query", "country:US", "-confirm", "10", "us"}},
		{1, []string{"tag", "-query", "*", "-confirm", "2", "everyone"}},
		{0, []string{"untag", "-email", "BILLING@acme.test", "churn-risk-high"}},
		{0, []string{"tag", "-external-id", "b-1", "-data-source", "ds_b", "found"}},
		{0, []string{"tag", "-uuid", "cus_0002", "-dry-run", "dry"}},
		{1, []string{"rename-tag", "plan-basic", "plan-pro"}},
		{0, []string{"rename-tag", "-merge", "plan-basic", "plan-pro"}},
		{0, []string{"rename-tag", "feature: sso", "feature: single sign-on"}},
		{0, []string{"delete-tag", "trial", "nobody"}},
		{0, []string{"segments", "save", "usa", "country:US"}},
		{0, []string{"segments", "save", "gone", "tag:new"}},
		{0, []string{"segments", "delete", "gone"}},
		{1, []string{"segments", "delete", "gone"}},
		{0, []string{"set-mrr", "-email", "echo@echo.test", "-at", "2024-06-01", "25000"}},
		{0, []string{"set-mrr", "-external-id", "a-3", "-data-source", "ds_a", "-at", "2024-06-01", "0"}},
		{0, []string{"export", "-query", "tag:plan-pro", "-format", "roaring", "-out", bitmap}},
		{0, []string{"tag-import", "-tag", "picked", bitmap}},
		{0, []string{"tag-import", "-tag", "mapped", "-add", bitmap + ".ids.csv"}},
	}
	for _, st := range steps {
		for _, s := range []*session{local, served} {
			args := append([]string{st.args[0], "-db", s.db}, st.args[1:]...)
			code, out, errs := cli(t, args...)
			through := strings.Contains(errs, "going through it at "+p.base)
			if code != st.code || through != (s == served) {
				t.Errorf("%v (served: %v): exit %d, through the server: %v; want exit %d\n%s%s", st.args, s == served, code, through, st.code, out, errs)
			}
		}
	}
	// What only a server asks: a confirmation above its -confirm-above.
	code, out, errs := cli(t, "tag", "-db", served.db, "-query", "*", "everyone")
	if code != 1 || !strings.Contains(errs, "asks for a confirmation above 3: nothing changed; run again with -confirm 10") {
		t.Errorf("tag -query '*' beside serve -confirm-above 3: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = cli(t, "tag", "-db", served.db, "-query", "*", "-dry-run", "everyone")
	if code != 0 || !strings.Contains(out, "would add everyone: 10 customers of *") {
		t.Errorf("tag -dry-run beside serve: exit %d\n%s%s", code, out, errs)
	}
	// The same answers, through the server and not.
	for _, args := range [][]string{
		{"query", "-format", "csv", "-limit", "0"},
		{"query", "-format", "jsonl", "-limit", "0", "tag:us"},
		{"export", "-format", "jsonl"},
		{"segments", "list"},
		{"query", "tag:picked AND tag:mapped"},
	} {
		_, want, _ := cli(t, append([]string{args[0], "-db", local.db}, args[1:]...)...)
		code, got, errs := cli(t, append([]string{args[0], "-db", served.db}, args[1:]...)...)
		if code != 0 || got != want {
			t.Errorf("%v through the server: exit %d (%s), differs from the local one (-local +served):\n%s", args, code, errs, cmp.Diff(want, got))
		}
	}
	// info through the server: the same figures but the file's.
	_, wantInfo, _ := cli(t, "info", "-db", local.db, "-format", "json")
	code, gotInfo, errs := cli(t, "info", "-db", served.db, "-format", "json")
	var wi, gi map[string]any
	json.Unmarshal([]byte(wantInfo), &wi)
	json.Unmarshal([]byte(gotInfo), &gi)
	for _, k := range []string{"path", "file_bytes", "last_commit_txid", "last_commit_time"} {
		delete(wi, k)
		delete(gi, k)
	}
	if code != 0 || len(gi) < 5 || !cmp.Equal(wi, gi) || !strings.Contains(errs, "going through it") {
		t.Errorf("info through the server: exit %d (%s)\n%s", code, errs, cmp.Diff(wi, gi))
	}
	// The backup through the server is the index.
	copyDB := filepath.Join(dir, "copy.db")
	if code, out, errs := cli(t, "backup", "-db", served.db, copyDB); code != 0 || !strings.Contains(errs, "(through the server)") {
		t.Fatalf("backup beside serve: exit %d\n%s%s", code, out, errs)
	}
	wantC, wantH := readAll(t, local.db)
	for _, db := range []string{copyDB, served.db} {
		if db == served.db {
			p.stop(t)
		}
		gotC, gotH := readAll(t, db)
		if diff := cmp.Diff(wantC, gotC); diff != "" {
			t.Errorf("%s: customers (-local +served):\n%s", filepath.Base(db), diff)
		}
		if diff := cmp.Diff(wantH, gotH); diff != "" {
			t.Errorf("%s: MRR histories (-local +served):\n%s", filepath.Base(db), diff)
		}
	}
}

// TestStaleServeNote: after kill -9 of tagseg serve its note stays; the
// next command sees that its server is gone and nobody holds the file,
// removes the note with a line that says so, and opens the index. A note
// whose server is gone while another process holds the file is kept, and
// the command says the file is locked.
func TestStaleServeNote(t *testing.T) {
	s := importFixture(t)
	p := startServe(t, s.db)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := readServeNote(s.db); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no serve note")
		}
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not die")
	}
	if _, err := os.Stat(serveNotePath(s.db)); err != nil {
		t.Fatalf("after kill -9 the note is gone already: %v", err)
	}
	code, out, errs := cli(t, "query", "-db", s.db, "tag:plan-pro")
	if code != 0 || !strings.Contains(errs, "removed the stale $TMP/test.db.serve.json: the tagseg serve it names") || !strings.Contains(out, "customers") {
		t.Errorf("query after kill -9 of serve: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(serveNotePath(s.db)); err == nil {
		t.Error("the stale note is still there")
	}

	// A note naming a dead process and a refused port, while the file is
	// held (here by this test): kept; the command says who holds it.
	ix, err := tagseg.Open(s.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	b, _ := json.Marshal(serveNote{URL: "http://127.0.0.1:9", PID: 1 << 22})
	if err := os.WriteFile(serveNotePath(s.db), b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = cli(t, "query", "-db", s.db, "tag:plan-pro")
	if code != 1 || strings.Contains(errs, "removed") || !strings.Contains(errs, "locked") {
		t.Errorf("query with a stale note and the file held: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(serveNotePath(s.db)); err != nil {
		t.Errorf("the note was removed while the file is held: %v", err)
	}
}
