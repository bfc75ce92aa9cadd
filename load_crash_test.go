package tagseg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Load crash test: a child process loads customers in small durable
// batches and is killed with SIGKILL at a random moment. The reopened file
// must pass Check and hold a prefix of the input, whole batches of it (or
// the whole input): every customer of the prefix with its tags, MRR and
// external ID (entries a Load had not merged into ext yet are merged by
// the writable Open), none past it. A second Load of the rest completes.

const loadCrashEnv = "TAGSEG_LOAD_CRASH_CHILD"

const (
	loadCrashN     = 20000
	loadCrashBatch = 64
)

func loadCrashInput() ([]Customer, [][]MRRChange) {
	var cs []Customer
	var evs [][]MRRChange
	for i := range loadCrashN {
		cs = append(cs, Customer{
			UUID: fmt.Sprint("cus_lc_", i), DataSourceUUID: "ds", ExternalID: fmt.Sprintf("x%07d", (i*7919)%loadCrashN),
			Email: fmt.Sprint(i%50, "@crash.test"), Tags: loadCrashTags(i),
		})
		evs = append(evs, []MRRChange{{At: day(2024, 1, 1+i%28), Cents: int64(i%10) * 100}})
	}
	return cs, evs
}

// loadCrashTags are customer i's tags: one on everyone (chunks from the
// first batch), seven that outgrow wholeMax during the load, and fifty
// small ones (stored whole when the load ends).
func loadCrashTags(i int) []string {
	tags := []string{"all", fmt.Sprint("m", i%30)}
	if i < 5000 {
		tags = append(tags, fmt.Sprint("s", i%50))
	}
	return tags
}

func TestLoadCrashChild(t *testing.T) {
	path := os.Getenv(loadCrashEnv)
	if path == "" {
		t.Skip("the child process of TestLoadCrash")
	}
	time.AfterFunc(60*time.Second, func() { os.Exit(4) })
	loadBatch = loadCrashBatch
	ix, err := Open(path, nil)
	if err != nil {
		os.Exit(2)
	}
	cs, evs := loadCrashInput()
	if _, err := ix.Load(loadSeq(cs, evs)); err != nil {
		os.Exit(2)
	}
	os.Exit(0) // finished before the kill
}

func TestLoadCrash(t *testing.T) {
	if os.Getenv(loadCrashEnv) != "" {
		t.Skip("in the child")
	}
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	seed := testSeed(t)
	r := newRand(seed)
	cs, evs := loadCrashInput()
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "load.db")
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), loadCrashEnv+"="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the file exists and has grown a little, at a random moment.
		deadline := time.Now().Add(20 * time.Second)
		for {
			if fi, err := os.Stat(path); err == nil && fi.Size() > 1<<18 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond)
		cmd.Process.Kill()
		werr := cmd.Wait()
		finished := werr == nil
		var ee *exec.ExitError
		if werr != nil && (!errors.As(werr, &ee) || ee.ExitCode() != -1) {
			t.Fatalf("round %d: the child failed: %v", round, werr)
		}

		// A read-only Open reads the tags right before anything is repaired.
		ro, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: read-only reopen after the kill: %v", round, err)
		}
		roTags := map[string]uint64{}
		for tag, c := range ro.Tags() {
			roTags[tag] = c
		}
		ro.Close()
		ix, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		if err := ix.Check(); err != nil {
			t.Fatalf("round %d: Check after the kill: %v", round, err)
		}
		n, err := ix.Count(All())
		if err != nil {
			t.Fatal(err)
		}
		if finished && n != loadCrashN || n%loadCrashBatch != 0 && n != loadCrashN {
			t.Fatalf("round %d: %d customers after the kill (finished %v): not whole batches of %d", round, n, finished, loadCrashBatch)
		}
		for i, c := range cs {
			got, err := ix.Customer(c.UUID)
			if i < int(n) {
				if err != nil || strings.Join(got.Tags, ",") != strings.Join(c.Tags, ",") || got.MRR != evs[i][0].Cents {
					t.Fatalf("round %d: customer %d of the prefix: %+v, %v", round, i, got, err)
				}
				if byExt, err := ix.CustomerByExternalID("ds", c.ExternalID); err != nil || byExt.UUID != c.UUID {
					t.Fatalf("round %d: external ID of customer %d: %+v, %v", round, i, byExt, err)
				}
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: customer %d past the prefix of %d: %v", round, i, n, err)
			}
		}
		// Every tag's bitmap holds exactly the prefix's holders.
		want := map[string]uint64{}
		for i := range int(n) {
			for _, tag := range cs[i].Tags {
				want[tag]++
			}
		}
		for tag, c := range ix.Tags() {
			if roTags[tag] != c {
				t.Fatalf("round %d: tag %s: %d customers read-only, %d after the writable Open", round, tag, roTags[tag], c)
			}
			if c != want[tag] {
				t.Fatalf("round %d: tag %s: %d customers after the kill, the prefix of %d has %d", round, tag, c, n, want[tag])
			}
			delete(want, tag)
		}
		if len(want) > 0 {
			t.Fatalf("round %d: tags missing after the kill: %v", round, want)
		}
		// Resume.
		m, err := ix.Load(loadSeq(cs[n:], evs[n:]))
		if err != nil || m != loadCrashN-int(n) {
			t.Fatalf("round %d: resuming after %d: %d, %v", round, n, m, err)
		}
		if err := ix.Check(); err != nil {
			t.Fatalf("round %d: Check after resuming: %v", round, err)
		}
		ix.Close()
		t.Logf("round %d: killed after %d of %d customers (finished: %v)", round, n, loadCrashN, finished)
	}
}
