package bench

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tagseg/tagseg"
)

// testN is the size of the data set the correctness tests use.
const testN = 5_000

var (
	testOnce sync.Once
	testIx   *Tagseg
	testWant *Answers
	testDS   *Dataset
	testErr  error
	testDir  string
)

// fixture loads the small data set into a tagseg index in a temporary
// directory (shared by the tests of this package) and answers every query.
func fixture(t *testing.T) (*Dataset, *Tagseg, *Answers) {
	t.Helper()
	testOnce.Do(func() {
		testDir, testErr = os.MkdirTemp("", "tagseg-bench-test")
		if testErr != nil {
			return
		}
		testDS = NewDataset(testN, 1)
		path := filepath.Join(testDir, "tagseg.db")
		if _, testErr = testDS.LoadTagseg(path, 1000, false); testErr != nil {
			return
		}
		var ix *tagseg.Index
		if ix, testErr = tagseg.Open(path, OpenOptions); testErr != nil {
			return
		}
		testIx = &Tagseg{Ix: ix, Path: path}
		testWant, testErr = AnswerAll(testIx, Queries)
	})
	if testErr != nil {
		t.Fatal(testErr)
	}
	return testDS, testIx, testWant
}

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Setenv("TAGSEG_BENCH_QUIET", "1") // tests only: no progress bars
	}
	code := m.Run()
	if testIx != nil {
		testIx.Close()
	}
	if testDir != "" {
		os.RemoveAll(testDir)
	}
	os.Exit(code)
}

// TestQueriesAreNotTrivial checks every query selects some but not all
// customers, so that agreement between systems means something.
func TestQueriesAreNotTrivial(t *testing.T) {
	_, _, want := fixture(t)
	for _, q := range Queries {
		switch q.Kind {
		case "count", "count+mrr":
			if c := want.Counts[q.Name]; c == 0 || c == testN {
				t.Errorf("%s: %d of %d customers", q.Name, c, testN)
			}
			t.Logf("%s: %d customers (%.1f%%), MRR %d", q.Name, want.Counts[q.Name], 100*float64(want.Counts[q.Name])/testN, want.MRR[q.Name])
		case "series":
			pts := want.Series[q.Name]
			if len(pts) != 36 || pts[35].MRR == 0 {
				t.Errorf("%s: %d points, last %+v", q.Name, len(pts), pts[len(pts)-1])
			}
		case "tagstats":
			if n := len(want.TagStats[q.Name]); n < 100 {
				t.Errorf("%s: %d tags", q.Name, n)
			}
		}
	}
}

// TestInMemoryPeers checks the maps and roaring peers against tagseg.
func TestInMemoryPeers(t *testing.T) {
	ds, _, want := fixture(t)
	for name, load := range map[string]func() System{
		"maps":    func() System { m, _ := ds.LoadMaps(); return m },
		"roaring": func() System { r, _ := ds.LoadRoaring(); return r },
	} {
		t.Run(name, func(t *testing.T) {
			got, err := AnswerAll(load(), Queries)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(name, want, got, Queries); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSQLitePeer(t *testing.T) {
	ds, _, want := fixture(t)
	path := filepath.Join(t.TempDir(), "sqlite.db")
	if _, err := ds.LoadSQLite(path); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := AnswerAll(s, Queries)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check("sqlite", want, got, Queries); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresPeer needs a server: set TAGSEG_BENCH_PG_DSN (bench/pg.sh
// start prints one). It loads the small data set into its own schema.
func TestPostgresPeer(t *testing.T) {
	dsn := PGDSN()
	if dsn == "" {
		t.Skip("TAGSEG_BENCH_PG_DSN not set (bench/pg.sh start prints one)")
	}
	ds, _, want := fixture(t)
	p := postgresFixture(t, ds, dsn)
	got, err := AnswerAll(p, Queries)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check("postgres", want, got, Queries); err != nil {
		t.Fatal(err)
	}
}

func postgresFixture(t *testing.T, ds *Dataset, dsn string) *Postgres {
	t.Helper()
	schema := "test_" + ds.pgSchema()
	if _, err := ds.LoadPostgres(dsn, schema); err != nil {
		t.Fatal(err)
	}
	conn, err := pgConnect(context.Background(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	return &Postgres{Conn: conn, Schema: schema}
}

// checkWriter adds a tag to a few customers with AddTag, checks the tag's
// count went up by that many, removes it again and checks the count is back.
func checkWriter(t *testing.T, w Writer, targets []Target, tag string) {
	t.Helper()
	before, err := w.Count(T(tag))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if err := w.AddTag(tg, tag); err != nil {
			t.Fatalf("%s: add %s to %d: %v", w.Name(), tag, tg.ID, err)
		}
	}
	after, err := w.Count(T(tag))
	if err != nil {
		t.Fatal(err)
	}
	if after != before+uint64(len(targets)) {
		t.Errorf("%s: %s count %d after adding it to %d customers, was %d", w.Name(), tag, after, len(targets), before)
	}
	if err := w.RemoveTag(targets, tag); err != nil {
		t.Fatal(err)
	}
	if restored, err := w.Count(T(tag)); err != nil || restored != before {
		t.Errorf("%s: %s count %d after removing it again, was %d (%v)", w.Name(), tag, restored, before, err)
	}
}

func TestWriters(t *testing.T) {
	ds, ix, want := fixture(t)
	for _, tag := range []string{"newsletter", "feature-scim", "a-tag-nobody-has"} {
		targets, err := ix.Targets(tag, 5)
		if err != nil || len(targets) != 5 {
			t.Fatalf("targets: %v %v", targets, err)
		}
		checkWriter(t, ix, targets, tag)
		path := filepath.Join(t.TempDir(), "sqlite.db")
		if _, err := ds.LoadSQLite(path); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		checkWriter(t, s, targets, tag)
		s.Close()
		if dsn := PGDSN(); dsn != "" {
			checkWriter(t, postgresFixture(t, ds, dsn), targets, tag)
		}
	}
	// The shared index is back as it was.
	got, err := AnswerAll(ix, Queries)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check("tagseg after writes", want, got, Queries); err != nil {
		t.Fatal(err)
	}
}

// TestIDsInLoadOrder checks the assumption the peers rely on: tagseg gives
// customer i of the generator the dense ID i.
func TestIDsInLoadOrder(t *testing.T) {
	ds, ix, _ := fixture(t)
	targets, err := ix.Targets("no-such-tag", 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, tg := range targets {
		c, err := ix.Ix.Customer(tg.UUID)
		if err != nil {
			t.Fatal(err)
		}
		g := ds.Gen.Customer(i)
		if tg.ID != uint32(i) || c.ExternalID != g.ExternalID {
			t.Fatalf("customer %d: ID %d, external ID %q, want %q", i, tg.ID, c.ExternalID, g.ExternalID)
		}
	}
}
