package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkImportCSV times the tagseg command's import of a CSV file of
// $TAGSEG_BENCH_IMPORT_N customer rows (default: the smallest of
// $TAGSEG_BENCH_N when set, else 100,000)
// and reports rows/s, in three modes:
//
//   - create: a new index; every row creates a customer (Index.Load).
//   - unchanged: the same file again; every row is looked up and found
//     unchanged (the import converges), nothing is written.
//   - update: a file with every row's MRR and one tag changed; every row
//     updates its customer (one Index.Update transaction a batch).
//
// It builds ../cmd/tagseg and runs it as a user would, durable (fsync per
// batch), so the figure includes CSV parsing and process start.
//
//	TAGSEG_BENCH_IMPORT_N=1000000 go test -run '^$' -bench ImportCSV -benchtime 1x
func BenchmarkImportCSV(b *testing.B) {
	n := 100_000
	if os.Getenv("TAGSEG_BENCH_N") != "" { // the smoke run's tiny size, say
		if ns, err := Sizes(); err == nil && len(ns) > 0 {
			n = slices.Min(ns)
		}
	}
	if s := os.Getenv("TAGSEG_BENCH_IMPORT_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("TAGSEG_BENCH_IMPORT_N=%q: want a positive number", s)
		}
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "tagseg")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tagseg").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	first := filepath.Join(dir, "customers.csv")
	second := filepath.Join(dir, "changed.csv")
	writeImportCSV(b, first, n, 0)
	writeImportCSV(b, second, n, 1)
	db := filepath.Join(dir, "import.db")
	imp := func(b *testing.B, file string) {
		cmd := exec.Command(bin, "import", "-db", db, "-mrr-at", "2024-06-01", file)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("tagseg import: %v\n%s", err, out)
		}
	}
	b.Run(fmt.Sprintf("n=%d/mode=create", n), func(b *testing.B) {
		var took time.Duration
		for b.Loop() {
			b.StopTimer()
			os.Remove(db)
			b.StartTimer()
			t0 := time.Now()
			imp(b, first)
			took += time.Since(t0)
		}
		b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "rows/s")
	})
	for _, m := range []struct{ name, file string }{{"unchanged", first}, {"update", second}} {
		b.Run(fmt.Sprintf("n=%d/mode=%s", n, m.name), func(b *testing.B) {
			var took time.Duration
			for b.Loop() {
				b.StopTimer()
				os.Remove(db)
				imp(b, first)
				b.StartTimer()
				t0 := time.Now()
				imp(b, m.file)
				took += time.Since(t0)
			}
			b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "rows/s")
		})
	}
}

// writeImportCSV writes n customer rows in import's CSV shape: keys, a few
// attributes, 5 tags of 1,000 (Zipf), an MRR and its date. variant 1
// changes every row's MRR and one tag.
func writeImportCSV(b *testing.B, path string, n, variant int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, 999)
	countries := []string{"US", "DE", "FR", "GB", "NL", "CA"}
	fmt.Fprintln(w, "uuid,data_source_uuid,external_id,name,email,country,tags,mrr,mrr_at,custom.plan")
	for i := range n {
		tags := ""
		for k := range 5 {
			if k > 0 {
				tags += ","
			}
			tags += "t" + strconv.FormatUint(zipf.Uint64(), 10)
		}
		if variant == 1 {
			tags += ",changed"
		}
		mrr := rng.IntN(100_000) + variant*100
		fmt.Fprintf(w, "cus_%08d,ds_1,ext-%d,Customer %d,c%d@example.com,%s,\"%s\",%d,2024-01-01,p%d\n",
			i, i, i, i, countries[rng.IntN(len(countries))], tags, mrr, i%3)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
