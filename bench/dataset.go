package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tagseg/tagseg/internal/gen"
)

// Dataset is one generated data set: N customers of internal/gen's
// default configuration with the given seed (16 tags per customer on
// average, min(100k, N/10) Zipf-distributed tags, 36 months of MRR).
type Dataset struct {
	N    int
	Seed uint64
	Gen  *gen.Generator
}

// NewDataset returns the data set of n customers and seed.
func NewDataset(n int, seed uint64) *Dataset {
	cfg := gen.DefaultConfig(n)
	cfg.Seed = seed
	return &Dataset{N: n, Seed: seed, Gen: gen.NewGenerator(cfg)}
}

// Key names the data set in cache file names: n<N>-s<seed>.
func (d *Dataset) Key() string { return fmt.Sprintf("n%d-s%d", d.N, d.Seed) }

// DataDir is where cached indexes, databases and the PostgreSQL cluster
// live: $TAGSEG_BENCH_DATA, or data/ beside the bench package (go test
// runs in the package directory). It is created when missing.
func DataDir() string {
	dir := os.Getenv("TAGSEG_BENCH_DATA")
	if dir == "" {
		dir = "data"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		panic(err)
	}
	return abs
}

// Sizes returns the data set sizes to benchmark: $TAGSEG_BENCH_N as a
// comma-separated list (100000 by default; "1M" and "10M" are accepted).
func Sizes() ([]int, error) {
	s := os.Getenv("TAGSEG_BENCH_N")
	if s == "" {
		s = "100000"
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "M"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "M")
		case strings.HasSuffix(f, "k"):
			mult, f = 1_000, strings.TrimSuffix(f, "k")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("TAGSEG_BENCH_N: bad size %q", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

// Seed returns $TAGSEG_BENCH_SEED, 1 by default.
func Seed() uint64 {
	s := os.Getenv("TAGSEG_BENCH_SEED")
	if s == "" {
		return 1
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("TAGSEG_BENCH_SEED: %v", err))
	}
	return v
}

// Batches yields the customers in order, in batches of size, generated on
// every core. Each batch is freshly allocated: the receiver may keep it.
func (d *Dataset) Batches(size int) func(yield func(start int, batch []gen.Customer) bool) {
	return func(yield func(int, []gen.Customer) bool) {
		w := max(1, runtime.GOMAXPROCS(0))
		nb := (d.N + size - 1) / size
		chans := make([]chan []gen.Customer, w)
		done := make(chan struct{})
		defer close(done)
		for k := range w {
			chans[k] = make(chan []gen.Customer, 2)
			go func() {
				defer close(chans[k])
				for b := k; b < nb; b += w {
					lo, hi := b*size, min(d.N, (b+1)*size)
					batch := make([]gen.Customer, hi-lo)
					for i := range batch {
						d.Gen.Fill(&batch[i], lo+i)
					}
					select {
					case chans[k] <- batch:
					case <-done:
						return
					}
				}
			}()
		}
		for b := range nb {
			batch := <-chans[b%w]
			if !yield(b*size, batch) {
				return
			}
		}
	}
}

// Progress returns a progress bar on stderr for a load of n items,
// unless $TAGSEG_BENCH_QUIET is set.
func Progress(n int, what string) *progressbar.ProgressBar {
	var w io.Writer = os.Stderr
	if os.Getenv("TAGSEG_BENCH_QUIET") != "" {
		w = io.Discard
	}
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("customers"),
		progressbar.OptionThrottle(500*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// LoadMeta describes how a cached file was built; it is written beside
// the file as <file>.json.
type LoadMeta struct {
	System      string    `json:"system"`
	N           int       `json:"n"`
	Seed        uint64    `json:"seed"`
	Mode        string    `json:"mode"`
	Seconds     float64   `json:"seconds"`
	Assignments int64     `json:"assignments"`
	Events      int64     `json:"events"`
	Built       time.Time `json:"built"`
}

func writeMeta(path string, m LoadMeta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path+".json", b, 0o644)
}

// ReadMeta reads the LoadMeta written beside a cached file.
func ReadMeta(path string) (LoadMeta, error) {
	var m LoadMeta
	b, err := os.ReadFile(path + ".json")
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// dirty marks a cached data set as being changed by a write benchmark;
// a cache with its marker left behind (an interrupted run) is rebuilt.
func dirtyPath(path string) string { return path + ".dirty" }

func markDirty(path string) error { return os.WriteFile(dirtyPath(path), nil, 0o644) }

func markClean(path string) error { return os.Remove(dirtyPath(path)) }

func isDirty(path string) bool {
	_, err := os.Stat(dirtyPath(path))
	return !errors.Is(err, os.ErrNotExist)
}

// fileSize is the size of path in bytes, or 0.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
