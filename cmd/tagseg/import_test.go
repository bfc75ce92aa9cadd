package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// testSeed returns the seed of a randomized test, logged; TAGSEG_SEED
// replays one.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TAGSEG_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun with TAGSEG_SEED=%d)", seed, seed)
	return seed
}

// modelCustomer is what the model keeps of a customer.
type modelCustomer struct {
	UUID, Ext, Name, Country string
	Custom                   map[string]any
	Tags                     []string
	Hist                     map[time.Time]int64
}

// importModel applies import rows as the import is documented to.
type importModel struct {
	replace bool
	mrrAt   time.Time
	cs      map[int]*modelCustomer
}

type modelRow struct {
	i                         int // the customer
	uuid, ext                 string
	name, country, plan, tags string
	mrr, mrrAt                string
}

func (m *importModel) apply(r modelRow) {
	c := m.cs[r.i]
	if c == nil {
		c = &modelCustomer{UUID: r.uuid, Hist: map[time.Time]int64{}}
		m.cs[r.i] = c
	}
	if r.ext != "" {
		c.Ext = r.ext
	}
	if r.name != "" {
		c.Name = r.name
	}
	if r.country != "" {
		c.Country = r.country
	}
	if r.plan != "" {
		if c.Custom == nil {
			c.Custom = map[string]any{}
		}
		c.Custom["plan"] = r.plan
	}
	row := strings.Split(r.tags, ",")
	if m.replace {
		// Tags the row keeps keep their place (order of first adding).
		var kept []string
		for _, t := range c.Tags {
			if slices.Contains(row, t) {
				kept = append(kept, t)
			}
		}
		c.Tags = kept
	}
	for _, t := range row {
		if t != "" && !slices.Contains(c.Tags, t) {
			c.Tags = append(c.Tags, t)
		}
	}
	if r.mrr == "" {
		return
	}
	mrr, _ := strconv.ParseInt(r.mrr, 10, 64)
	at := m.mrrAt
	if r.mrrAt != "" {
		at, _ = time.Parse(time.DateOnly, r.mrrAt)
	}
	c.Hist[at] = mrr // -mrr-at is given: every MRR is an event
}

// dumpIndex returns every customer of the index as the model keeps them,
// keyed by UUID when it starts with ours, else by "ext:" and external ID
// (with the UUID the index made dropped, when dropMade).
func dumpIndex(t *testing.T, db, ours string, dropMade bool) map[string]*modelCustomer {
	t.Helper()
	ix, err := tagseg.Open(db, &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*modelCustomer{}
	for c := range seg.Customers() {
		h, err := ix.MRRHistory(c.UUID)
		if err != nil {
			t.Fatal(err)
		}
		mc := &modelCustomer{UUID: c.UUID, Ext: c.ExternalID, Name: c.Name, Country: c.Country, Custom: c.Custom, Tags: c.Tags, Hist: map[time.Time]int64{}}
		if len(mc.Tags) == 0 {
			mc.Tags = nil
		}
		for _, e := range h {
			mc.Hist[e.At] = e.Cents
		}
		key := c.UUID
		if !strings.HasPrefix(key, ours) {
			key = "ext:" + c.ExternalID // a UUID the index made
			if dropMade {
				mc.UUID = ""
			}
		}
		out[key] = mc
	}
	return out
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportConverges imports random rows that create and update customers
// (by uuid, by external ID or both; attributes, tags and MRR with and
// without times, several rows per customer within and across batches),
// compares the index with a model, and imports the same file again: the
// index must not change.
func TestImportConverges(t *testing.T) {
	seed := testSeed(t)
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprintf("replace=%v", replace), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			dir := t.TempDir()
			mrrAt := time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC)
			m := &importModel{replace: replace, mrrAt: mrrAt, cs: map[int]*modelCustomer{}}
			var b strings.Builder
			w := csv.NewWriter(&b)
			w.Write([]string{"uuid", "data_source_uuid", "external_id", "name", "country", "tags", "mrr", "mrr_at", "custom.plan"})
			pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
			const customers = 25
			mode := make([]int, customers) // 0: uuid only, 1: external ID only, 2: both
			for i := range mode {
				mode[i] = rng.IntN(3)
			}
			for range 120 {
				r := modelRow{i: rng.IntN(customers)}
				switch mode[r.i] {
				case 0:
					r.uuid = fmt.Sprintf("cus_m%02d", r.i)
				case 1:
					r.ext = fmt.Sprintf("e-%02d", r.i)
				case 2:
					r.uuid, r.ext = fmt.Sprintf("cus_m%02d", r.i), fmt.Sprintf("e-%02d", r.i)
				}
				r.name = pick("", "", "Ann", "Bob", "Cy")
				r.country = pick("", "US", "DE")
				r.plan = pick("", "pro", "basic")
				r.tags = pick("", "a", "b,a", "c", "a,c,d")
				r.mrr = pick("", "", "0", "100", "250")
				if r.mrr != "" && rng.IntN(2) == 0 {
					r.mrrAt = pick("2024-01-01", "2024-03-01", "2024-09-01")
				}
				ds := ""
				if r.ext != "" {
					ds = "ds"
				}
				w.Write([]string{r.uuid, ds, r.ext, r.name, r.country, r.tags, r.mrr, r.mrrAt, r.plan})
				m.apply(r)
			}
			w.Flush()
			t.Logf("rows:\n%s", b.String())
			file := writeFile(t, filepath.Join(dir, "rows.csv"), b.String())
			db := filepath.Join(dir, "m.db")
			args := []string{"import", "-db", db, "-batch", strconv.Itoa(1 + rng.IntN(40)), "-mrr-at", "2024-06-15", "-on-duplicate", "last", file}
			if replace {
				args = append(args, "-replace-tags")
			}
			code, out, errs := cli(t, args...)
			if code != 0 {
				t.Fatalf("import: exit %d\n%s%s", code, out, errs)
			}
			want := map[string]*modelCustomer{}
			for i, c := range m.cs {
				if c.UUID != "" {
					want[c.UUID] = c
				} else {
					want["ext:"+fmt.Sprintf("e-%02d", i)] = c
				}
			}
			// UUIDs the index made are not the model's to know.
			got := dumpIndex(t, db, "cus_m", true)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("after one import (-model +index):\n%s", diff)
			}
			code, out, errs = cli(t, args...)
			if code != 0 || !strings.Contains(out, "(0 customers created, ") || !strings.HasSuffix(strings.Split(out, "\n")[1], ", 0 refused") {
				t.Fatalf("second import: exit %d\n%s%s", code, out, errs)
			}
			again := dumpIndex(t, db, "cus_m", true)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Fatalf("the second import changed the index (-first +second):\n%s", diff)
			}
		})
	}
}

// TestImportInterruptedAndResumed runs tagseg import as a process, stops it
// with SIGTERM part way, checks that the index holds exactly the rows
// through the line it names as durable, and resumes with the -from-line it
// suggests: the index then holds every row, once.
func TestImportInterruptedAndResumed(t *testing.T) {
	bin := tagsegBinary(t)
	dir := t.TempDir()
	const rows = 8000
	var b strings.Builder
	b.WriteString("uuid,data_source_uuid,external_id,tags,mrr,mrr_at\n")
	for i := range rows {
		fmt.Fprintf(&b, "cus_%05d,ds,e-%d,t%d,%d,2024-01-01\n", i, i, i%7, 100+i)
	}
	file := writeFile(t, filepath.Join(dir, "rows.csv"), b.String())
	db := filepath.Join(dir, "rows.db")
	cmd := exec.Command(bin, "import", "-db", db, "-batch", "100", file)
	cmd.Env = append(os.Environ(), "TAGSEG_IMPORT_PAUSE=40ms") // 80 batches: 3.2 s at least
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal once the import has had time for a few batches: after it
	// created the index file (a loaded machine may take long to start it).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(db); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import did not create the index in 60 s")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1\nstdout:\n%s\nstderr:\n%s", code, err, out.String(), errb.String())
	}
	m := regexp.MustCompile(`every row through line (\d+) is written`).FindStringSubmatch(errb.String())
	resume := regexp.MustCompile(`to resume: tagseg import -db \S+ -from-line (\d+) `).FindStringSubmatch(errb.String())
	if m == nil || resume == nil || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("no durable line or resume hint:\n%s", errb.String())
	}
	last, _ := strconv.Atoi(m[1])
	if from, _ := strconv.Atoi(resume[1]); from != last+1 {
		t.Errorf("resume from line %d, durable through %d", from, last)
	}
	if last < 2 || last >= rows+1 {
		t.Fatalf("durable through line %d: the signal came too late or too early", last)
	}
	t.Logf("interrupted after line %d", last)
	check := func(through int) {
		t.Helper()
		got := dumpIndex(t, db, "cus_", false)
		want := map[string]*modelCustomer{}
		for i := range through - 1 { // line i+2 is row i
			u := fmt.Sprintf("cus_%05d", i)
			want[u] = &modelCustomer{UUID: u, Ext: fmt.Sprintf("e-%d", i), Tags: []string{fmt.Sprintf("t%d", i%7)},
				Hist: map[time.Time]int64{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC): int64(100 + i)}}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("index through line %d (-want +got):\n%s", through, diff)
		}
	}
	check(last)
	code, stdout, stderr := cli(t, "import", "-db", db, "-from-line", resume[1], file)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, stdout, stderr)
	}
	wantOut := fmt.Sprintf("%s: %s rows read (%s before line %d skipped): %s created, 0 updated, 0 unchanged, 0 refused\n", file, count(rows-(last-1)), count(last-1), last+1, count(rows-(last-1)))
	if !strings.HasPrefix(stdout, wantOut) {
		t.Errorf("resume:\n%s\nwant\n%s", stdout, wantOut)
	}
	check(rows + 1)
}

func TestImportRefusals(t *testing.T) {
	s := &session{t: t, db: tempDB(t)}
	dir := filepath.Dir(s.db)
	writeFile(t, filepath.Join(dir, "unkeyed.csv"), "name,email,tags\nNo Key,a@x.test,a\nBad Mail,notanemail,b\n")
	writeFile(t, filepath.Join(dir, "quote.csv"), "uuid,name\ncus_q1,one\ncus_q2,\"two\ncus_q3,three\ncus_q4,four\n")
	writeFile(t, filepath.Join(dir, "empty.csv"), "")
	writeFile(t, filepath.Join(dir, "empty.jsonl"), "")
	// A row with neither key is refused; -allow-unkeyed creates it (and
	// creates it again on every run). A bad email is refused either way.
	s.run(1, "import", "-db", "$DB", "$DIR/unkeyed.csv")
	s.run(1, "import", "-db", "$DB", "-allow-unkeyed", "$DIR/unkeyed.csv")
	// An unclosed quote stops the file at its line: line 2 landed, lines
	// 3 on are named as not imported.
	s.run(1, "import", "-db", "$DB", "-skip-bad", "$DIR/quote.csv")
	// Empty files are no rows, whatever their format.
	s.run(0, "import", "-db", "$DB", "$DIR/empty.csv", "$DIR/empty.jsonl")
	// A CSV read as JSON Lines: every row refused, exit 1.
	s.run(1, "import", "-db", "$DB", "-format", "jsonl", "testdata/customers.csv")
	s.golden("import-refusals.txt")
	ix := openIndex(t, s.db)
	if n, err := ix.Count(tagseg.All()); err != nil || n != 2 {
		t.Errorf("%d customers (%v), want 2 (the unkeyed row, cus_q1)", n, err)
	}
}

func TestImportDryRun(t *testing.T) {
	s := &session{t: t, db: tempDB(t)}
	// No index yet: a dry run creates none.
	s.run(0, "import", "-db", "$DB", "-dry-run", "testdata/customers.csv")
	if _, err := os.Stat(s.db); err == nil {
		t.Fatalf("a dry run created %s", s.db)
	}
	s.run(0, "import", "-db", "$DB", "-mrr-at", "2024-01-01", "testdata/customers.csv")
	before, err := os.ReadFile(s.db)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(s.db)
	writeFile(t, filepath.Join(dir, "change.csv"), "uuid,name,tags,mrr\ncus_0001,Renamed,new-tag,100\ncus_9999,New One,\"x,y\",5\ncus_0002,,\"[\"\"\"\"]\",\ncus_0003,,,\n")
	s.run(1, "import", "-db", "$DB", "-dry-run", "-mrr-at", "2024-01-01", "$DIR/change.csv")
	s.golden("import-dry-run.txt")
	after, err := os.ReadFile(s.db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a dry run changed the index file")
	}
}

func TestImportEvents(t *testing.T) {
	s := importFixture(t)
	dir := filepath.Dir(s.db)
	writeFile(t, filepath.Join(dir, "events.csv"), "uuid,date,mrr\ncus_0002,2024-03-01,9900\ncus_0003,2024-03-20,0\ncus_0003,2024-05-02,29900\ncus_nobody,2024-01-01,5\ncus_0005,2024-04-10,99.00\n")
	writeFile(t, filepath.Join(dir, "events.jsonl"), `{"data_source_uuid":"ds_b","external_id":"b-1","date":"2024-04-10","mrr":99}`+"\n")
	s.run(1, "import", "-db", "$DB", "-events", "$DIR/events.csv")
	s.run(0, "import", "-db", "$DB", "-events", "-units", "$DIR/events.jsonl")
	// Again: nothing changes.
	s.run(0, "import", "-db", "$DB", "-events", "-skip-bad", "$DIR/events.csv")
	s.run(0, "series", "-db", "$DB", "-from", "2024-01-01", "-to", "2024-06-30")
	s.golden("import-events.txt")
	ix := openIndex(t, s.db)
	h, err := ix.MRRHistory("cus_0003")
	if err != nil {
		t.Fatal(err)
	}
	want := []tagseg.MRRChange{
		{At: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), Cents: 59900},
		{At: time.Date(2024, 3, 20, 0, 0, 0, 0, time.UTC), Cents: 0},
		{At: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), Cents: 29900},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("cus_0003's history (-want +got):\n%s", diff)
	}
	if c, _ := ix.Customer("cus_0005"); c.MRR != 9900 {
		t.Errorf("cus_0005: MRR %d, want 9900 (99 units)", c.MRR)
	}
}

func TestEmailValidation(t *testing.T) {
	for _, e := range []string{"a@b.test", "A.B+c@x.example", ""} {
		if err := api.CheckEmail(e); err != nil {
			t.Errorf("api.CheckEmail(%q) = %v, want nil", e, err)
		}
	}
	for _, e := range []string{"notanemail", "a@", "Name <a@b.test>", "a@b.test, c@d.test", "@x"} {
		if err := api.CheckEmail(e); err == nil {
			t.Errorf("api.CheckEmail(%q) = nil, want an error", e)
		}
	}
}

// TestImportTwiceIsOnce: importing the same customers (CSV and JSON Lines;
// MRR with mrr_at, without it and without -mrr-at, none) and MRR events
// again leaves every customer and MRR history as the first import did,
// and says nothing was created, updated or recorded.
func TestImportTwiceIsOnce(t *testing.T) {
	dir := t.TempDir()
	csvFile := writeFile(t, filepath.Join(dir, "c.csv"), `uuid,data_source_uuid,external_id,name,tags,mrr,mrr_at,custom.seats:Integer
cus_a,ds,a,Ann,"plan-pro,vip",29900,2024-02-01,5
cus_b,ds,b,Bob,plan-basic,9900,,
cus_c,ds,c,Cy,,,,
`)
	jsonFile := writeFile(t, filepath.Join(dir, "c.jsonl"), `{"uuid":"cus_d","name":"Di","mrr":500}
{"uuid":"cus_e","name":"Ed","mrr":"700","mrr_at":"2024-03-01T10:00:00Z","attributes":{"tags":["x"],"custom":[{"type":"Decimal","key":"score","value":1.5}]}}
`)
	events := writeFile(t, filepath.Join(dir, "e.csv"), "uuid,date,mrr\ncus_a,2024-01-01,100\ncus_a,2024-02-01,29900\ncus_a,2024-06-01,0\ncus_d,2024-01-15,400\n")
	db := filepath.Join(dir, "twice.db")
	run := func(args ...string) string {
		t.Helper()
		code, out, errs := cli(t, append([]string{"import", "-db", db}, args...)...)
		if code != 0 {
			t.Fatalf("import %v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	run(csvFile, jsonFile)
	run("-events", events)
	custs, hist := readAll(t, db)
	if n := len(hist["cus_a"]); n != 3 {
		t.Errorf("cus_a's history after the first import: %v, want 3 events (Feb 1 from the customers file is in the events too)", hist["cus_a"])
	}
	for range 2 {
		if out := run(csvFile, jsonFile); !strings.Contains(out, "(0 customers created, 0 rows updated, 5 unchanged), 0 refused") {
			t.Errorf("customers again:\n%s", out)
		}
		if out := run("-events", events); !strings.Contains(out, "(0 MRR events recorded, 4 unchanged)") {
			t.Errorf("events again:\n%s", out)
		}
		custs2, hist2 := readAll(t, db)
		if diff := cmp.Diff(custs, custs2); diff != "" {
			t.Errorf("customers after importing again (-once +twice):\n%s", diff)
		}
		if diff := cmp.Diff(hist, hist2); diff != "" {
			t.Errorf("MRR histories after importing again (-once +twice):\n%s", diff)
		}
	}
}

// TestImportDuplicates: a file that names one customer twice (by UUID, by
// external ID, by both; rows of one batch or of two) has the later row
// refused, with both lines; -on-duplicate last applies it over the
// earlier; a customer named again in another file, or in an events file,
// is no duplicate.
func TestImportDuplicates(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "dup.csv"), `uuid,data_source_uuid,external_id,name,tags,mrr,mrr_at
cus_a,ds,a,Ann,one,100,2024-01-01
cus_b,,,Bob,,,
,ds,c,Cy,,,
cus_a,,,Ann Again,two,200,2024-02-01
,ds,a,Ann Thrice,,,
cus_d,ds,d,Di,,,
,ds,c,Cy Again,,,
cus_b,,,Bob Again,,,
`)
	jsonFile := writeFile(t, filepath.Join(dir, "dup.jsonl"), `{"uuid":"cus_j","name":"J"}
{"uuid":"cus_j","name":"J2"}
`)
	for _, batch := range []string{"50000", "1", "3"} {
		t.Run("batch="+batch, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "dup.db")
			code, out, errs := cli(t, "import", "-db", db, "-batch", batch, file, jsonFile)
			if code != 1 || !strings.Contains(out, "8 rows read: 4 created, 0 updated, 0 unchanged, 4 refused") {
				t.Errorf("exit %d\n%s%s", code, out, errs)
			}
			for _, want := range []string{
				file + ":5: names the same customer as line 2 (cus_a)",
				file + ":6: names the same customer as line 2 (cus_a)",
				file + ":8: names the same customer as line 4",
				file + ":9: names the same customer as line 3 (cus_b)",
				jsonFile + ":2: names the same customer as line 1",
				"-on-duplicate last",
			} {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errs)
				}
			}
			custs, hist := readAll(t, db)
			if c := custs["cus_a"]; c.Name != "Ann" || !slices.Equal(c.Tags, []string{"one"}) || len(hist["cus_a"]) != 1 {
				t.Errorf("cus_a: %+v, history %v; want the first row's alone", c, hist["cus_a"])
			}
			// -on-duplicate last: each later row applies over the earlier.
			code, out, errs = cli(t, "import", "-db", db, "-batch", batch, "-on-duplicate", "last", file, jsonFile)
			if code != 0 || !strings.Contains(out, "0 refused") {
				t.Errorf("-on-duplicate last: exit %d\n%s%s", code, out, errs)
			}
			custs, hist = readAll(t, db)
			if c := custs["cus_a"]; c.Name != "Ann Thrice" || !slices.Equal(c.Tags, []string{"one", "two"}) || len(hist["cus_a"]) != 2 {
				t.Errorf("cus_a after -on-duplicate last: %+v, history %v; want the rows applied in order", c, hist["cus_a"])
			}
			if c, ok := custs["cus_j"]; !ok || c.Name != "J2" {
				t.Errorf("cus_j after -on-duplicate last: %+v", c)
			}
		})
	}
	// Another file, or an events file, naming the same customers is fine.
	db := filepath.Join(t.TempDir(), "two.db")
	a := writeFile(t, filepath.Join(dir, "a.csv"), "uuid,name\ncus_x,X\n")
	b := writeFile(t, filepath.Join(dir, "b.csv"), "uuid,name\ncus_x,X2\n")
	ev := writeFile(t, filepath.Join(dir, "ev.csv"), "uuid,date,mrr\ncus_x,2024-01-01,1\ncus_x,2024-02-01,2\n")
	if code, out, errs := cli(t, "import", "-db", db, a, b); code != 0 {
		t.Errorf("two files naming one customer: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := cli(t, "import", "-db", db, "-events", ev); code != 0 {
		t.Errorf("events of one customer: exit %d\n%s%s", code, out, errs)
	}
}
