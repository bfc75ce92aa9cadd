// Package croaring_test proves that tagseg's portable Roaring bitmaps are
// the ones the C implementation, CRoaring, reads and writes: a small C
// program (testdata/roundtrip.c), compiled against Debian's libroaring-dev,
// reads what Segment.WriteTo writes and writes bitmaps that ReadIDs and
// SetTagMembers take, each checked against a plain Go set, on bitmaps with
// array, bitmap and run containers.
//
// The library must be installed (apt-get install libroaring-dev; .ci/test
// installs it when it runs as root). Without it the test fails when it
// runs as root or with $CI or $TAGSEG_REQUIRE_CROARING set, as in CI, and
// is skipped otherwise, saying so.
package croaring_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the random sets (0: from the clock)")

// required reports whether a missing CRoaring is a failure rather than a
// reason to skip.
func required() bool {
	return os.Geteuid() == 0 || os.Getenv("CI") != "" || os.Getenv("TAGSEG_REQUIRE_CROARING") != ""
}

// buildC compiles testdata/roundtrip.c against libroaring.
func buildC(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "roundtrip")
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	out, err := exec.Command(cc, "-O2", "-Wall", "-o", bin, "testdata/roundtrip.c", "-lroaring").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot compile against CRoaring (apt-get install libroaring-dev; .ci/test does it as root): %v\n%s", err, out)
		if required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// cResult is what the C program prints: the cardinality, the container
// counts by kind, and (read) the members.
type cResult struct {
	card                  uint64
	arrays, runs, bitsets int
	members               map[uint32]bool
}

func runC(t *testing.T, bin string, stdin string, args ...string) cResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("roundtrip %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var r cResult
	if !sc.Scan() || !parse(sc.Text(), "cardinality %d", &r.card) || !sc.Scan() || !parse(sc.Text(), "containers %d %d %d", &r.arrays, &r.runs, &r.bitsets) {
		t.Fatalf("roundtrip %s: unexpected output %.200q", strings.Join(args, " "), out)
	}
	r.members = map[uint32]bool{}
	for sc.Scan() {
		v, err := strconv.ParseUint(sc.Text(), 10, 32)
		if err != nil {
			t.Fatalf("roundtrip: member %q: %v", sc.Text(), err)
		}
		r.members[uint32(v)] = true
	}
	return r
}

func parse(s, format string, args ...any) bool {
	n, err := fmt.Sscanf(s, format, args...)
	return err == nil && n == len(args)
}

// n customers: enough for three chunks of 2^16 IDs, so that one set can
// hold an array, a bitmap and a run container.
const n = 140000

func TestCRoaringInterop(t *testing.T) {
	bin := buildC(t)
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	// The index and its model: which live IDs hold which tags.
	dir := t.TempDir()
	ix, err := tagseg.Open(filepath.Join(dir, "interop.db"), &tagseg.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	model := map[string]map[uint32]bool{"dense": {}, "run": {}, "sparse": {}, "mixed": {}}
	runLo := 65536 + r.IntN(1000)
	runHi := runLo + 5000 + r.IntN(20000)
	_, err = ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for id := range uint32(n) {
			var tags []string
			add := func(tag string) { tags = append(tags, tag); model[tag][id] = true }
			if id < 65536 && r.IntN(3) == 0 {
				add("dense") // chunk 0: a bitmap container
			}
			if id >= uint32(runLo) && id < uint32(runHi) {
				add("run") // chunk 1: a run
			}
			if id >= 131072 && r.IntN(100) == 0 {
				add("sparse") // chunk 2: an array
			}
			if len(tags) > 0 {
				add("mixed")
			}
			if !yield(tagseg.Customer{ExternalID: fmt.Sprint(id), Tags: tags}, nil) {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[uint32]bool{}
	for range 30 {
		id := uint32(r.IntN(n))
		c, err := ix.CustomerByExternalID("", fmt.Sprint(id))
		if err != nil {
			continue // deleted already
		}
		if err := ix.DeleteCustomer(c.UUID); err != nil {
			t.Fatal(err)
		}
		deleted[id] = true
		for _, m := range model {
			delete(m, id)
		}
	}

	// tagseg → CRoaring.
	for _, tag := range []string{"dense", "run", "sparse", "mixed"} {
		seg, err := ix.Segment(tagseg.Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tag+".roaring")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seg.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got := runC(t, bin, "", "read", path)
		if got.card != uint64(len(model[tag])) || !maps.Equal(got.members, model[tag]) {
			t.Errorf("CRoaring reads %s as %d members, the model has %d (-model +CRoaring):\n%.2000s", tag, got.card, len(model[tag]), cmp.Diff(model[tag], got.members))
		}
		kinds := map[string]bool{"dense": got.bitsets > 0, "run": got.runs > 0, "sparse": got.arrays > 0, "mixed": got.arrays > 0 && got.runs > 0 && got.bitsets > 0}
		if !kinds[tag] {
			t.Errorf("CRoaring reads %s with %d array, %d run and %d bitmap containers: not the kind the test means", tag, got.arrays, got.runs, got.bitsets)
		}
	}

	// CRoaring → tagseg: random sets of live IDs with every container
	// kind, written by the C program, read by ReadIDs, set as a tag.
	for round := range 2 {
		want := map[uint32]bool{}
		var spec strings.Builder
		addID := func(id uint32) {
			if !deleted[id] {
				want[id] = true
				fmt.Fprintf(&spec, "add %d\n", id)
			}
		}
		for range 5000 + r.IntN(5000) { // chunk 0: a bitmap
			addID(uint32(r.IntN(65536)))
		}
		lo := 65536 + r.IntN(30000)
		hi := lo + 1 + r.IntN(20000)
		for id := lo; id < hi; id++ { // chunk 1: runs, around deleted IDs
			addID(uint32(id))
		}
		for range 1 + r.IntN(100) { // chunk 2: an array
			addID(uint32(131072 + r.IntN(n-131072)))
		}
		spec.WriteString("optimize\n")
		path := filepath.Join(dir, fmt.Sprint("c", round, ".roaring"))
		c := runC(t, bin, spec.String(), "write", path)
		if c.arrays == 0 || c.runs == 0 || c.bitsets == 0 || c.card != uint64(len(want)) {
			t.Fatalf("round %d: CRoaring wrote %d IDs in %d array, %d run, %d bitmap containers; want %d IDs, every kind", round, c.card, c.arrays, c.runs, c.bitsets, len(want))
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := tagseg.ReadIDs(f)
		f.Close()
		if err != nil {
			t.Fatalf("round %d: ReadIDs of CRoaring's bitmap: %v", round, err)
		}
		got := map[uint32]bool{}
		for _, id := range ids.ToArray() {
			got[id] = true
		}
		if !maps.Equal(want, got) {
			t.Fatalf("round %d: ReadIDs of CRoaring's bitmap (-want +got):\n%.2000s", round, cmp.Diff(want, got))
		}
		tag := "from-c" // the second round replaces the first
		if _, _, err := ix.SetTagMembers(tag, ids); err != nil {
			t.Fatal(err)
		}
		seg, err := ix.Segment(tagseg.Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		holders := map[uint32]bool{}
		for _, id := range seg.IDs().ToArray() {
			holders[id] = true
		}
		if seg.Count() != uint64(len(want)) || !maps.Equal(want, holders) {
			t.Fatalf("round %d: %s has %d holders, the C bitmap %d (-want +got):\n%.2000s", round, tag, seg.Count(), len(want), cmp.Diff(want, holders))
		}
		// And back: CRoaring reads the tag as it wrote it.
		var buf bytes.Buffer
		if _, err := seg.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		back := filepath.Join(dir, "back.roaring")
		os.WriteFile(back, buf.Bytes(), 0o600)
		if again := runC(t, bin, "", "read", back); !maps.Equal(again.members, want) {
			t.Fatalf("round %d: CRoaring reads the tag back as %d members, want %d", round, again.card, len(want))
		}
	}
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
}
