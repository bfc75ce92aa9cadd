package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// cli runs tagseg with args and returns its exit status, stdout and stderr,
// with the temporary directory replaced by $TMP and timings by <elapsed>.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, clean(t, out.String()), clean(t, errb.String())
}

var timingRE = regexp.MustCompile(`(?m)^([\d,]+) rows in \S+ \(\S+ rows/s\)$`)

func clean(t *testing.T, s string) string {
	s = timingRE.ReplaceAllString(s, "$1 rows in <elapsed>")
	if dir := tmpDirs[t.Name()]; dir != "" {
		s = strings.ReplaceAll(s, dir, "$TMP")
	}
	return s
}

var tmpDirs = map[string]string{}

// tempDB returns the path of a new index file in a temporary directory.
func tempDB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tmpDirs[t.Name()] = dir
	t.Cleanup(func() { delete(tmpDirs, t.Name()) })
	return filepath.Join(dir, "test.db")
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// transcript formats a command's results for a golden file.
func transcript(args []string, code int, stdout, stderr string) string {
	var b strings.Builder
	b.WriteString("$ tagseg")
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " *()\"'") {
			a = "'" + a + "'"
		}
		b.WriteString(" " + a)
	}
	b.WriteString("\n")
	b.WriteString(stdout)
	if stderr != "" {
		b.WriteString("--- stderr ---\n" + stderr)
	}
	b.WriteString("--- exit " + strconv.Itoa(code) + " ---\n")
	return b.String()
}

// session runs commands one after another and collects their transcripts
// for one golden file. In each command "$DB" stands for db, "$DIR" for its
// directory.
type session struct {
	t  *testing.T
	db string
	b  strings.Builder
}

func (s *session) run(wantCode int, args ...string) (stdout string) {
	s.t.Helper()
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = strings.ReplaceAll(strings.ReplaceAll(a, "$DB", s.db), "$DIR", filepath.Dir(s.db))
	}
	code, out, errs := cli(s.t, full...)
	if code != wantCode {
		s.t.Errorf("tagseg %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errs)
	}
	s.b.WriteString(transcript(args, code, out, errs))
	s.b.WriteString("\n")
	return out
}

func (s *session) golden(name string) {
	s.t.Helper()
	golden(s.t, name, s.b.String())
}

// importFixture imports the CSV and JSONL customers into a new index.
func importFixture(t *testing.T) *session {
	t.Helper()
	s := &session{t: t, db: tempDB(t)}
	s.run(0, "import", "-db", "$DB", "-mrr-at", "2024-01-01", "testdata/customers.csv", "testdata/customers.jsonl")
	return s
}

// openIndex opens the index of a session for checks, and closes it at the end.
func openIndex(t *testing.T, path string) *tagseg.Index {
	t.Helper()
	ix, err := tagseg.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func uuids(t *testing.T, ix *tagseg.Index) []string {
	t.Helper()
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for c := range seg.Customers() {
		out = append(out, c.UUID)
	}
	return out
}

func TestUsage(t *testing.T) {
	s := &session{t: t, db: tempDB(t)}
	s.run(2)
	s.run(0, "help")
	s.run(2, "frobnicate")
	s.run(2, "import", "-db", "$DB")
	s.run(2, "import", "testdata/customers.csv")
	s.run(2, "import", "-db", "$DB", "-on-error", "maybe", "testdata/customers.csv")
	s.run(2, "import", "-db", "$DB", "-batch", "0", "testdata/customers.csv")
	s.run(2, "import", "-db", "$DB", "testdata/customers.txt")
	s.run(2, "query", "-db", "$DB", "-nope")
	s.run(2, "series", "-db", "$DB", "-from", "2024-01-01")
	s.run(2, "series", "-db", "$DB", "-from", "2024-02-01", "-to", "2024-01-01")
	s.run(2, "series", "-db", "$DB", "-from", "2024-01-01", "-to", "2024-02-01", "-every", "fortnight")
	s.run(2, "tags", "-db", "$DB", "-by", "size")
	s.run(2, "segments", "-db", "$DB")
	s.run(2, "segments", "-db", "$DB", "rename", "a", "b")
	s.run(1, "query", "-db", "$DB")
	s.golden("usage.txt")
	if _, err := os.Stat(s.db); err == nil {
		t.Errorf("a failed command created %s", s.db)
	}
}

func TestHelp(t *testing.T) {
	for name := range commands {
		code, out, errs := cli(t, "help", name)
		if code != 0 || errs != "" || !strings.Contains(out, "Usage: tagseg "+name+" ") {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q", name, code, out, errs)
		}
	}
}

func TestImport(t *testing.T) {
	s := importFixture(t)
	s.golden("import.txt")
	ix := openIndex(t, s.db)
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cus_0001", "cus_0002", "cus_0003", "cus_0004", "cus_0005", "cus_0006", "cus_0007", "cus_1001", "cus_1002", "cus_1003"}
	if got := uuids(t, ix); !slices.Equal(got, want) {
		t.Errorf("customers %v, want %v", got, want)
	}
	c, err := ix.Customer("cus_0003")
	if err != nil {
		t.Fatal(err)
	}
	if c.MRR != 59900 || !c.LeadCreatedAt.Equal(time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)) ||
		c.Custom["seats"] != int64(80) || c.Custom["plan"] != "pro" || c.Custom["vip"] != nil {
		t.Errorf("cus_0003 = %+v", c)
	}
	c, err = ix.Customer("cus_1003")
	if err != nil {
		t.Fatal(err)
	}
	if c.Custom["seats"] != int64(2) || c.Custom["vip"] != true || c.Custom["score"] != 1.25 ||
		c.Custom["renewal"] != time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC) || c.Custom["channel"] != "Facebook" || c.MRR != 0 {
		t.Errorf("cus_1003 = %+v", c)
	}
	// MRR without mrr_at is recorded at -mrr-at.
	pts, err := ix.Series(tagseg.All(), time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), tagseg.Month)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].MRR != 0 || pts[1].MRR != 8008+29900+15000 {
		t.Errorf("series %+v", pts)
	}
}

func TestImportBadRowsSkipped(t *testing.T) {
	s := &session{t: t, db: tempDB(t)}
	// Refused rows make the exit status 1; the good rows land.
	s.run(1, "import", "-db", "$DB", "-batch", "3", "testdata/bad.csv", "testdata/bad.jsonl")
	// Importing the same files again: the good rows are unchanged, the bad
	// ones refused again; -skip-bad accepts that.
	s.run(0, "import", "-db", "$DB", "-skip-bad", "testdata/bad.csv")
	s.golden("import-skip.txt")
	ix := openIndex(t, s.db)
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cus_2001", "cus_2008", "cus_2010", "cus_3001", "cus_3008"}
	if got := uuids(t, ix); !slices.Equal(got, want) {
		t.Errorf("customers %v, want %v", got, want)
	}
}

func TestImportAbort(t *testing.T) {
	s := &session{t: t, db: tempDB(t)}
	// customers.csv lands; bad.csv stops at its first refused row (line
	// 3): line 2 is written, nothing after line 3 is read, and
	// customers.jsonl is not read.
	s.run(1, "import", "-db", "$DB", "-on-error", "abort", "testdata/customers.csv", "testdata/bad.csv", "testdata/customers.jsonl")
	s.golden("import-abort.txt")
	ix := openIndex(t, s.db)
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	got := uuids(t, ix)
	want := []string{"cus_0001", "cus_0002", "cus_0003", "cus_0004", "cus_0005", "cus_0006", "cus_0007", "cus_2001"}
	if !slices.Equal(got, want) {
		t.Errorf("customers %v, want %v", got, want)
	}
}

func TestImportRefusesBadHeaderBeforeWriting(t *testing.T) {
	s := &session{t: t, db: tempDB(t)}
	s.run(1, "import", "-db", "$DB", "testdata/customers.csv", "testdata/unknown-column.csv")
	s.run(1, "import", "-db", "$DB", "testdata/customers.csv", "testdata/missing.csv")
	s.golden("import-header.txt")
	if _, err := os.Stat(s.db); err == nil {
		t.Errorf("the import created %s", s.db)
	}
}

func TestImportStdin(t *testing.T) {
	db := tempDB(t)
	f, err := os.Open("testdata/customers.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	code, out, errs := cli(t, "import", "-db", db, "-format", "jsonl", "-")
	if code != 0 || out != "stdin: 3 rows read: 3 created, 0 updated, 0 unchanged, 0 refused\ntotal: 3 rows landed (3 customers created, 0 rows updated, 0 unchanged), 0 refused\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func TestQuery(t *testing.T) {
	s := importFixture(t)
	s.run(0, "query", "-db", "$DB")
	s.run(0, "query", "-db", "$DB", "-limit", "2", "*")
	s.run(0, "query", "-db", "$DB", "-limit", "0", "-json")
	s.run(0, "query", "-db", "$DB", "-limit", "1", "-json", "*")
	s.run(1, "query", "-db", "$DB", "-segment", "nope")
	s.golden("query.txt")
}

func TestQueryLanguage(t *testing.T) {
	s := importFixture(t)
	s.run(0, "query", "-db", "$DB", "tag:plan-pro", "AND", "NOT", "tag:managed-account")
	s.run(0, "query", "-db", "$DB", "-json", "-limit", "1", `tags:any(feature-x, "feature: sso") AND country:US`)
	s.run(0, "query", "-db", "$DB", "mrr >= 10000 AND custom.vip = true")
	s.run(1, "query", "-db", "$DB", "tag:a AND (")
	s.run(1, "query", "-db", "$DB", `tag:"café" AND mrr > ten`)
	s.run(1, "query", "-db", "$DB", "colour:red")
	s.run(1, "segments", "-db", "$DB", "save", "bad", "colour:red")
	s.run(0, "segments", "-db", "$DB", "list")
	s.run(0, "tags", "-db", "$DB", "-query", "tag:plan-pro", "-by", "count")
	s.run(0, "series", "-db", "$DB", "-query", "tag:plan-pro", "-from", "2024-01-01", "-to", "2024-03-31")
	s.golden("query-language.txt")
}

func TestTags(t *testing.T) {
	s := importFixture(t)
	s.run(0, "tags", "-db", "$DB")
	s.run(0, "tags", "-db", "$DB", "-by", "count", "-limit", "3")
	s.run(0, "tags", "-db", "$DB", "-prefix", "feature: ", "-json")
	s.run(0, "tags", "-db", "$DB", "-prefix", "nothing-")
	s.golden("tags.txt")
}

func TestSeries(t *testing.T) {
	s := importFixture(t)
	// Some history: an expansion, a churn and a reactivation.
	ix := openIndex(t, s.db)
	err := ix.Update(func(tx *tagseg.Tx) error {
		for _, ev := range []struct {
			uuid  string
			at    string
			cents int64
		}{
			{"cus_0002", "2024-03-01", 9900},
			{"cus_0003", "2024-03-20", 0},
			{"cus_0003", "2024-05-02", 29900},
			{"cus_0005", "2024-04-10", 9900},
		} {
			at, _ := time.Parse(time.DateOnly, ev.at)
			if err := tx.SetMRR(ev.uuid, at, ev.cents); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	s.run(0, "series", "-db", "$DB", "-from", "2024-01-01", "-to", "2024-06-30")
	s.run(0, "series", "-db", "$DB", "-from", "2024-01-01", "-to", "2024-06-30", "-every", "quarter", "-csv")
	s.run(0, "series", "-db", "$DB", "-from", "2024-03-01", "-to", "2024-03-01", "-every", "week", "-json")
	s.golden("series.txt")
}

func TestSegments(t *testing.T) {
	s := importFixture(t)
	s.run(0, "segments", "-db", "$DB", "list")
	s.run(0, "segments", "-db", "$DB", "save", "everyone", "*")
	s.run(0, "segments", "-db", "$DB", "save", "pro", "tag:plan-pro", "AND", "NOT", "tag:managed-account")
	s.run(0, "segments", "-db", "$DB", "list")
	s.run(0, "segments", "-db", "$DB", "list", "-json")
	s.run(0, "query", "-db", "$DB", "-segment", "everyone", "-limit", "0")
	s.run(0, "segments", "-db", "$DB", "delete", "everyone")
	s.run(1, "segments", "-db", "$DB", "delete", "everyone")
	s.run(0, "segments", "-db", "$DB", "list")
	s.golden("segments.txt")
}

// TestImportLoadBatches imports more rows than one Load batch holds (Load
// commits 65,536 customers a transaction, so the second batch of the
// import is committed in two), with bad rows before and after Load's
// first commit and a row naming a customer an earlier row named (refused,
// with both lines), then the same file again with -on-duplicate last
// (every row unchanged but that customer's two).
func TestImportLoadBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 70,000 rows twice")
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("uuid,data_source_uuid,external_id,tags,mrr,mrr_at\n")
	bad := map[int]string{
		100:    "cus_000100,ds,e-100,all,-5,2024-01-01",                // does not parse
		30_000: "cus_000010,ds,e-30000,all,1,2024-01-01",               // a UUID given before (line 12), with another external ID
		66_000: `cus_066000,ds,e-66000,"[""""]",1,2024-01-01`,          // an invalid tag, after Load's first commit
		67_000: "cus_067000,ds,e-5,all,1,2024-01-01",                   // an external ID of another customer
		69_000: `cus_069000,ds,e-69000,"[""ok"", "" ""]",1,2024-01-01`, // an invalid tag
	}
	for i := range 70_000 {
		if line, ok := bad[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&b, "cus_%06d,ds,e-%d,\"plan-%d,all\",%d,2024-01-01\n", i, i, i%3, 100+i)
	}
	file := writeFile(t, filepath.Join(dir, "rows.csv"), b.String())
	db := filepath.Join(dir, "rows.db")
	code, out, errs := cli(t, "import", "-db", db, file)
	// Row i is on line i+2.
	wantOut := file + ": 70,000 rows read: 69,995 created, 0 updated, 0 unchanged, 5 refused\n" +
		"total: 69,995 rows landed (69,995 customers created, 0 rows updated, 0 unchanged), 5 refused\n"
	wantErr := file + `:102: mrr: -5 is negative (refused)
` + file + `:30002: names the same customer as line 12 (cus_000010): a file names each customer once (merge the two rows, or give -on-duplicate last to apply the later over the earlier): duplicate (refused)
` + file + `:66002: tags: tag "" is empty: invalid tag (refused)
` + file + `:67002: external ID "e-5" of data source "ds" is customer cus_000005, not cus_067000: duplicate (refused)
` + file + `:69002: tags: tag " " is only white space: invalid tag (refused)
70,000 rows in <elapsed>
tagseg import: 5 rows refused; fix them and import the files again (rows that landed are updated, not duplicated), or give -skip-bad to accept the partial import
`
	if code != 1 || out != wantOut || errs != wantErr {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", code, out, wantOut, errs, wantErr)
	}
	ix := openIndex(t, db)
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	if n, err := ix.Count(tagseg.All()); err != nil || n != 69_995 {
		t.Errorf("%d customers (%v), want 69995", n, err)
	}
	for uuid, mrr := range map[string]int64{"cus_000010": 110, "cus_065999": 66_099, "cus_066001": 66_101, "cus_069999": 70_099} {
		if c, err := ix.Customer(uuid); err != nil || c.MRR != mrr {
			t.Errorf("%s: MRR %d (%v), want %d", uuid, c.MRR, err, mrr)
		}
	}
	if c, _ := ix.Customer("cus_000010"); c.ExternalID != "e-10" {
		t.Errorf("cus_000010 has external ID %q, want e-10 (line 30002 is refused)", c.ExternalID)
	}
	ix.Close()
	code, out, _ = cli(t, "import", "-db", db, "-skip-bad", "-on-duplicate", "last", file)
	if code != 0 || !strings.Contains(out, "(0 customers created, 2 rows updated, 69,994 unchanged), 4 refused") {
		t.Errorf("again: exit %d\n%s", code, out)
	}
	ix = openIndex(t, db)
	if c, err := ix.Customer("cus_000010"); err != nil || c.ExternalID != "e-30000" || c.MRR != 1 {
		t.Errorf("cus_000010: external ID %q, MRR %d (%v); want e-30000 and 1 (line 30002 over line 12)", c.ExternalID, c.MRR, err)
	}
	ix.Close()
}
