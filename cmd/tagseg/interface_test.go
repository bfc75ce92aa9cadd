package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// TestWriteCommands runs tag, untag, rename-tag, delete-tag and set-mrr
// (golden transcript), then random ones against a model of every
// customer's tags, compared after each command.
func TestWriteCommands(t *testing.T) {
	s := importFixture(t)
	s.run(0, "tag", "-db", "$DB", "-uuid", "cus_0001", "vip", "call me")
	s.run(0, "tag", "-db", "$DB", "-uuid", "cus_0001", "vip")
	s.run(0, "untag", "-db", "$DB", "-email", "BILLING@acme.test", "vip")
	s.run(0, "tag", "-db", "$DB", "-external-id", "a-2", "-data-source", "ds_a", "x")
	s.run(0, "tag", "-db", "$DB", "-query", "country:US", "us")
	s.run(0, "untag", "-db", "$DB", "-query", "country:US AND mrr > 0", "us")
	s.run(0, "rename-tag", "-db", "$DB", "plan-pro", "plan-professional")
	s.run(1, "rename-tag", "-db", "$DB", "plan-pro", "y")
	s.run(1, "rename-tag", "-db", "$DB", "plan-professional", "plan-basic")
	s.run(0, "rename-tag", "-db", "$DB", "-merge", "plan-professional", "plan-basic")
	s.run(0, "tag", "-db", "$DB", "-dry-run", "-query", "*", "everyone")
	s.run(1, "tag", "-db", "$DB", "-confirm", "2", "-query", "*", "everyone")
	s.run(0, "untag", "-db", "$DB", "-dry-run", "-uuid", "cus_0001", "call me", "nope")
	s.run(0, "delete-tag", "-db", "$DB", "us", "nobody-has-it")
	s.run(0, "set-mrr", "-db", "$DB", "-uuid", "cus_0004", "-at", "2024-05-01", "12345")
	s.run(0, "set-mrr", "-db", "$DB", "-uuid", "cus_0004", "-at", "2024-06-01", "-units", "99.5")
	s.run(2, "set-mrr", "-db", "$DB", "-uuid", "cus_0004", "100.50")
	s.run(1, "tag", "-db", "$DB", "-uuid", "cus_nobody", "a")
	s.run(1, "tag", "-db", "$DB", "-uuid", "cus_0001", " ")
	s.run(2, "tag", "-db", "$DB", "a")
	s.run(2, "tag", "-db", "$DB", "-uuid", "cus_0001", "-email", "x@y.test", "a")
	s.golden("write.txt")

	// Random commands against a model.
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	ix := openIndex(t, s.db)
	model := map[string][]string{}
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for c := range seg.Customers() {
		model[c.UUID] = c.Tags
		all = append(all, c.UUID)
	}
	ix.Close()
	tags := []string{"a", "b", "c", "plan-basic"}
	for range 30 {
		tag := tags[rng.IntN(len(tags))]
		switch rng.IntN(4) {
		case 0:
			u := all[rng.IntN(len(all))]
			cli(t, "tag", "-db", s.db, "-uuid", u, tag)
			if !slices.Contains(model[u], tag) {
				model[u] = append(model[u], tag)
			}
		case 1:
			u := all[rng.IntN(len(all))]
			cli(t, "untag", "-db", s.db, "-uuid", u, tag)
			model[u] = slices.DeleteFunc(slices.Clone(model[u]), func(x string) bool { return x == tag })
		case 2:
			other := tags[rng.IntN(len(tags))]
			merge := rng.IntN(2) == 0
			args := []string{"rename-tag", "-db", s.db, tag, other}
			if merge {
				args = append(args, "-merge")
			}
			code, _, errs := cli(t, args...)
			held, otherHeld := false, false
			for _, ts := range model {
				held = held || slices.Contains(ts, tag)
				otherHeld = otherHeld || slices.Contains(ts, other)
			}
			if tag == other {
				if code != 2 {
					t.Fatalf("rename-tag %s %s: exit %d, want 2", tag, other, code)
				}
				continue
			}
			ok := held && (merge || !otherHeld)
			if code != map[bool]int{true: 0, false: 1}[ok] {
				t.Fatalf("rename-tag %s %s (-merge %v): exit %d (held: %v, %s held: %v)\n%s", tag, other, merge, code, held, other, otherHeld, errs)
			}
			if !ok {
				continue
			}
			for u, ts := range model {
				if slices.Contains(ts, tag) {
					ts = slices.DeleteFunc(slices.Clone(ts), func(x string) bool { return x == tag })
					if !slices.Contains(ts, other) {
						ts = append(ts, other)
					}
					model[u] = ts
				}
			}
		case 3:
			cli(t, "delete-tag", "-db", s.db, tag)
			for u, ts := range model {
				model[u] = slices.DeleteFunc(slices.Clone(ts), func(x string) bool { return x == tag })
			}
		}
		ix := openIndex(t, s.db)
		got := map[string][]string{}
		for _, u := range all {
			c, err := ix.Customer(u)
			if err != nil {
				t.Fatal(err)
			}
			got[u] = c.Tags
		}
		if err := ix.Check(); err != nil {
			t.Fatal(err)
		}
		ix.Close()
		norm := func(m map[string][]string) map[string][]string {
			out := map[string][]string{}
			for k, v := range m {
				if len(v) > 0 {
					out[k] = v
				}
			}
			return out
		}
		if diff := cmp.Diff(norm(model), norm(got)); diff != "" {
			t.Fatalf("tags (-model +index):\n%s", diff)
		}
	}
}

// TestReadFormats checks that every read command writes table, csv and
// json, that -json and -csv are shorthands, and that the csv and json
// parse and agree with the index.
func TestReadFormats(t *testing.T) {
	s := importFixture(t)
	ix := openIndex(t, s.db)
	n, err := ix.Count(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	// query -format csv -limit 0 '*' lists every customer, once, in import's columns.
	code, out, errs := cli(t, "query", "-db", s.db, "-format", "csv", "-limit", "0", "*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || uint64(len(recs)) != n+1 || len(recs[0]) < len(api.ExportColumns) || !slices.Equal(recs[0][:len(api.ExportColumns)], api.ExportColumns) {
		t.Fatalf("query csv: %d records (%v), want %d:\n%s", len(recs), err, n+1, out)
	}
	// It imports again: nothing changes.
	file := writeFile(t, filepath.Join(t.TempDir(), "again.csv"), out)
	code, out2, errs := cli(t, "import", "-db", s.db, file)
	if code != 0 || !strings.Contains(out2, "(0 customers created, 0 rows updated, 10 unchanged), 0 refused") {
		t.Errorf("re-import of query -format csv: exit %d\n%s%s", code, out2, errs)
	}
	for _, args := range [][]string{
		{"query", "-limit", "3"}, {"query", "-limit", "0", "tag:plan-pro"}, {"tags"}, {"tags", "tag:plan-pro"}, {"tags", "-query", "tag:plan-pro", "-limit", "0"},
		{"series", "-from", "2024-01-01", "-to", "2024-03-31"}, {"segments", "list"}, {"info"},
	} {
		base := append([]string{args[0], "-db", s.db}, args[1:]...)
		for _, f := range []string{"table", "csv", "json"} {
			code, out, errs := cli(t, append(base, "-format", f)...)
			if code != 0 || out == "" {
				t.Errorf("%v -format %s: exit %d\n%s%s", args, f, code, out, errs)
				continue
			}
			switch f {
			case "json":
				var v any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("%v -format json: %v\n%s", args, err, out)
				}
				_, short, _ := cli(t, append(base, "-json")...)
				if short != out {
					t.Errorf("%v: -json differs from -format json", args)
				}
			case "csv":
				if _, err := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil {
					t.Errorf("%v -format csv: %v\n%s", args, err, out)
				}
				_, short, _ := cli(t, append(base, "-csv")...)
				if short != out {
					t.Errorf("%v: -csv differs from -format csv", args)
				}
			}
		}
	}
	if code, _, _ := cli(t, "query", "-db", s.db, "-json", "-format", "csv"); code != 2 {
		t.Errorf("-json -format csv: exit %d, want 2", code)
	}
	if code, _, _ := cli(t, "query", "-db", s.db, "-format", "xml"); code != 2 {
		t.Errorf("-format xml: exit %d, want 2", code)
	}
	// The query is taken the same way everywhere: arguments or -query.
	_, a, _ := cli(t, "tags", "-db", s.db, "tag:plan-pro", "AND", "country:US")
	_, b, _ := cli(t, "tags", "-db", s.db, "-query", "tag:plan-pro AND country:US")
	if a != b || !strings.HasPrefix(a, "tag:plan-pro AND country:US: 1 customers") {
		t.Errorf("tags with the query as arguments:\n%s\nwith -query:\n%s", a, b)
	}
	_, a, _ = cli(t, "query", "-db", s.db, "-query", "tag:plan-pro")
	_, b, _ = cli(t, "query", "-db", s.db, "tag:plan-pro")
	if a != b {
		t.Errorf("query -query differs from query as arguments")
	}
}

// TestQueryHelp covers help query, did-you-mean for fields and commands,
// the cents hint, the note on letter case, --version, help on stdout.
func TestQueryHelp(t *testing.T) {
	s := importFixture(t)
	s.run(1, "query", "-db", "$DB", "contry:US")
	s.run(1, "query", "-db", "$DB", "mrr > 100.50")
	s.run(1, "tags", "-db", "$DB", "-query", "tag:a OR arr <= 12.5")
	s.run(0, "query", "-db", "$DB", "country = us")
	s.run(0, "query", "-db", "$DB", `city:"new york"`)
	s.run(1, "query", "-db", "$DB", "tag:feature: dark mode")
	s.run(1, "query", "-db", "$DB", "-limit", "0", "tags:any(feature sso, plan-pro) AND mrr > 0")
	s.run(0, "query", "-db", "$DB", "-limit", "0", `tag:"feature: dark mode"`)
	s.golden("query-help.txt")
	for q, want := range map[string]string{
		"tag:feature: dark mode":        `did you mean tag:"feature: dark mode"?`,
		"(NOT tag:a b) OR tag:c":        `did you mean (NOT tag:"a b") OR tag:c?`,
		"tag:café(1)":                   `did you mean tag:"café(1)"?`,
		"tags:all(a, b c) AND x:1":      `did you mean tags:all(a, "b c") AND x:1?`,
		"tag:feature-sso, tag:x":        "",
		"tag:a AND AND tag:b":           "",
		`tag:"quoted already" tag:more`: "",
	} {
		_, err := tagseg.Parse(q)
		var se *tagseg.SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("Parse(%q) = %v, want a syntax error", q, err)
		}
		if got := quoteHint(q, se); want == "" && got != "" || want != "" && !strings.HasSuffix(got, want) {
			t.Errorf("quoteHint(%q) = %q, want one ending %q", q, got, want)
		}
	}
	for cmd, want := range map[string]string{"qurey": "query", "tgas": "tags", "untga": "untag", "sevre": "serve"} {
		code, _, errs := cli(t, "help", cmd)
		if code != 2 || !strings.HasSuffix(errs, fmt.Sprintf("\ntagseg: unknown command %q; did you mean %q?\n", cmd, want)) {
			t.Errorf("help %s: exit %d, %q", cmd, code, errs)
		}
	}
	for field, want := range map[string]string{"contry": "country", "emial": "email", "Country": "country", "tga": "tag", "lead_created": ""} {
		hint := fieldHint(field)
		if want == "" && strings.HasPrefix(hint, "did you mean") || want != "" && !strings.HasPrefix(hint, "did you mean "+want+"?") {
			t.Errorf("fieldHint(%q) = %q, want a suggestion of %q", field, hint, want)
		}
	}

	code, out, errs := cli(t, "help", "query")
	for _, want := range []string{"tags:any(", "Fields:", "external_id", "custom.KEY", "mrr >= 10000", "Examples:", "!=", "Usage: tagseg query"} {
		if !strings.Contains(out, want) {
			t.Errorf("help query lacks %q", want)
		}
	}
	if code != 0 || errs != "" {
		t.Errorf("help query: exit %d, stderr %q", code, errs)
	}
	code, out, _ = cli(t, "--version")
	if code != 0 || !regexp.MustCompile(`^tagseg \S+.*, index format \d+, go`).MatchString(out) {
		t.Errorf("--version: exit %d: %q", code, out)
	}
	code, out, errs = cli(t, "tags", "-h")
	if code != 0 || errs != "" || !strings.HasPrefix(out, "Usage: tagseg tags") {
		t.Errorf("tags -h: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A flag error prints the usage to stderr.
	code, out, errs = cli(t, "tags", "-nope")
	if code != 2 || out != "" || !strings.Contains(errs, "Usage: tagseg tags") {
		t.Errorf("tags -nope: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestMissingIndex: every command but import, demo and serve -create
// refuses a -db file that does not exist, and creates nothing.
func TestMissingIndex(t *testing.T) {
	db := filepath.Join(t.TempDir(), "typo.db")
	for _, args := range [][]string{
		{"query"}, {"tags"}, {"series", "-from", "2024-01-01", "-to", "2024-02-01"}, {"segments", "list"},
		{"backup", filepath.Join(t.TempDir(), "b.db")}, {"info"}, {"check"}, {"tag", "-uuid", "u", "t"}, {"untag", "-uuid", "u", "t"},
		{"rename-tag", "a", "b"}, {"delete-tag", "a"}, {"set-mrr", "-uuid", "u", "1"}, {"serve", "-addr", "127.0.0.1:0"},
	} {
		full := append([]string{args[0], "-db", db}, args[1:]...)
		code, _, errs := cli(t, full...)
		if code != 1 || !strings.Contains(errs, "no such index") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%v created %s", args, db)
		}
	}
}

// TestLockedByServe: while serve holds the index, the other commands say
// that a server holds it, where it listens and what to do.
func TestLockedByServe(t *testing.T) {
	s := importFixture(t)
	srv := serveInProcess(t, "-db", s.db, "-addr", "127.0.0.1:0")
	base := srv.base
	var out, errb bytes.Buffer
	code := run([]string{"tag", "-db", s.db, "-uuid", "cus_0001", "x"}, &out, &errb)
	want := fmt.Sprintf("locked by another process: tagseg serve (pid %d); a server for it runs at %s", os.Getpid(), base)
	if code != 1 || !strings.Contains(errb.String(), want) {
		t.Errorf("tag while serving: exit %d, stderr %q, want it to say %q", code, errb.String(), want)
	}
	for _, w := range []struct {
		args []string
		want string
	}{
		{[]string{"tag", "-server", base, "-uuid", "cus_0002", "remote-tag"}, "cus_0002: added remote-tag (through the server); tags now: plan-basic, \"feature: dark mode\", remote-tag\n"},
		{[]string{"tag", "-server", base, "-query", "country:DE", "de"}, "added de: 1 customer changed, of country:DE (through the server)\n"},
		{[]string{"untag", "-server", base, "-uuid", "cus_0002", "de"}, "cus_0002: removed de (through the server); tags now: plan-basic, \"feature: dark mode\", remote-tag\n"},
		{[]string{"set-mrr", "-server", base, "-uuid", "cus_0007", "-at", "2024-03-01", "500"}, "cus_0007: MRR 5.00 from 2024-03-01T00:00:00Z (through the server); current MRR 5.00\n"},
	} {
		code, out, errs := cli(t, w.args...)
		if code != 0 || out != w.want {
			t.Errorf("%v: exit %d\n%s%s\nwant %s", w.args, code, out, errs, w.want)
		}
	}
	if code, _, errs := cli(t, "tag", "-server", base, "-uuid", "cus_nobody", "x"); code != 1 || !strings.Contains(errs, "404 Not Found: Customer not found") {
		t.Errorf("tag an unknown UUID through the server: exit %d, %q", code, errs)
	}
	// Reads through the server: the same answers as from the file after.
	through := map[string]string{}
	reads := [][]string{
		{"query", "-limit", "0", "tag:plan-pro"}, {"query", "-format", "json", "-limit", "3"}, {"query", "-format", "csv", "-limit", "0"},
		{"tags", "tag:plan-pro"}, {"tags", "-format", "csv", "-by", "count", "-limit", "0"},
		{"series", "-from", "2024-01-01", "-to", "2024-04-30", "-format", "json"},
	}
	for _, args := range reads {
		code, out, errs := cli(t, append([]string{args[0], "-server", base}, args[1:]...)...)
		if code != 0 {
			t.Errorf("%v through the server: exit %d\n%s", args, code, errs)
		}
		through[strings.Join(args, " ")] = out
	}
	srv.stop(t)
	for _, args := range reads {
		_, out, _ := cli(t, append([]string{args[0], "-db", s.db}, args[1:]...)...)
		if want := through[strings.Join(args, " ")]; out != want {
			t.Errorf("%v: through the server\n%s\nfrom the file\n%s", args, want, out)
		}
	}
	ix := openIndex(t, s.db)
	if c, _ := ix.Customer("cus_0002"); !slices.Equal(c.Tags, []string{"plan-basic", "feature: dark mode", "remote-tag"}) {
		t.Errorf("cus_0002's tags after the server: %v", c.Tags)
	}
	if c, _ := ix.Customer("cus_0007"); c.MRR != 500 {
		t.Errorf("cus_0007's MRR after the server: %d", c.MRR)
	}
	ix.Close()
	if _, err := os.Stat(serveNotePath(s.db)); err == nil {
		t.Errorf("serve left %s behind", serveNotePath(s.db))
	}
}

func TestServeCreate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "new.db")
	code, _, errs := cli(t, "serve", "-db", db, "-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errs, "give -create") {
		t.Errorf("serve of a missing file: exit %d, %q", code, errs)
	}
}

// TestMessages: a field that is not UTF-8 and one that is too long are told
// apart.
func TestMessages(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "m.db")
	file := writeFile(t, filepath.Join(dir, "m.csv"), "uuid,name\ncus_1,caf\xe9\ncus_2,"+strings.Repeat("x", 5000)+"\n")
	code, _, errs := cli(t, "import", "-db", db, file)
	if code != 1 || !strings.Contains(errs, "m.csv:2: name: not valid UTF-8") || !strings.Contains(errs, "m.csv:3: name: 5000 bytes, longer than the 4096 the index takes") {
		t.Errorf("exit %d\n%s", code, errs)
	}
}

// TestServeNoteDiscovery runs tagseg serve as a process: query and tag on
// its -db go through it, found from its note, without -server.
func TestServeNoteDiscovery(t *testing.T) {
	s := importFixture(t)
	cmd := exec.Command(tagsegBinary(t), "serve", "-db", s.db, "-addr", "127.0.0.1:0")
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := readServeNote(s.db); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serve note: %s", errb.String())
		}
	}
	code, out, errs := cli(t, "tag", "-db", s.db, "-uuid", "cus_0001", "found")
	if code != 0 || !strings.Contains(errs, "is held by tagseg serve") || !strings.Contains(out, "(through the server)") {
		t.Errorf("tag beside serve: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = cli(t, "query", "-db", s.db, "tag:found")
	if code != 0 || !strings.Contains(out, "customers  1\n") {
		t.Errorf("query beside serve: exit %d\n%s", code, out)
	}
}
