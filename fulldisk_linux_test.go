//go:build linux

package tagseg

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A full disk, two ways: the file size limit (RLIMIT_FSIZE, in a child
// process, so that the limit binds the index alone; any user) and a small
// tmpfs filled to the last byte (root only: CI runs as root). Either way
// a write that needs more room fails with ErrIO and changes nothing,
// reads go on, writes work again once there is room (no reopen), and
// reopening shows every acknowledged write and nothing else.

const fullDiskEnv = "TAGSEG_FULL_DISK_CHILD"

// fullSpace fills the room an index has to grow into, and frees it.
type fullSpace interface {
	fill(t *testing.T, ix *Index)
	free(t *testing.T)
}

func TestFullDisk(t *testing.T) {
	t.Run("file size limit", func(t *testing.T) {
		dir := t.TempDir()
		seed := testSeed(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestFullDiskChild$", "-test.count=1", "-test.v", fmt.Sprint("-seed=", seed))
		cmd.Env = append(os.Environ(), fullDiskEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "full disk: done") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		t.Logf("child process:\n%s", out)
	})
	t.Run("full file system", func(t *testing.T) {
		dir := t.TempDir()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=6m"); err != nil {
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("mounting a small tmpfs needs root (CAP_SYS_ADMIN): %v; the file size limit case ran", err)
			}
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		})
		fullDiskScenario(t, filepath.Join(dir, "f.db"), &fillerSpace{dir: dir}, testSeed(t))
	})
}

// TestFullDiskChild is the child process of TestFullDisk's file size
// limit case.
func TestFullDiskChild(t *testing.T) {
	dir := os.Getenv(fullDiskEnv)
	if dir == "" {
		t.Skip("the child process of TestFullDisk")
	}
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead
	seed := *seedFlag
	fullDiskScenario(t, filepath.Join(dir, "f.db"), &rlimitSpace{}, seed)
	t.Log("full disk: done")
}

// rlimitSpace limits the size of files this process writes to what the
// index uses of its file: bbolt grows a file 16 MiB at a time, so the file
// is larger, and a write of a page past the limit fails (EFBIG).
type rlimitSpace struct{ old syscall.Rlimit }

func (s *rlimitSpace) fill(t *testing.T, ix *Index) {
	var used int64
	if err := ix.db.View(func(btx *bolt.Tx) error { used = btx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &s.old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(used), Max: s.old.Max}); err != nil {
		t.Fatal(err)
	}
}

func (s *rlimitSpace) free(t *testing.T) {
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &s.old); err != nil {
		t.Fatal(err)
	}
}

// fillerSpace fills a file system with a file of zeros.
type fillerSpace struct{ dir string }

func (s *fillerSpace) fill(t *testing.T, _ *Index) {
	f, err := os.Create(filepath.Join(s.dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the file system: %v", err)
			}
			return
		}
	}
}

func (s *fillerSpace) free(t *testing.T) {
	if err := os.Remove(filepath.Join(s.dir, "filler")); err != nil {
		t.Fatal(err)
	}
}

// fullDiskScenario runs the full disk story on a durable index at path.
func fullDiskScenario(t *testing.T, path string, space fullSpace, seed uint64) {
	r := newRand(seed)
	ix, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel()
	long := strings.Repeat("x", 3000) // records that need new pages soon
	create := func(c Customer) error {
		got, err := ix.CreateCustomer(c)
		if err == nil {
			m.created(c, got)
		}
		return err
	}
	// One write of the story: a create, a tag on a customer, a tag on
	// everyone, or an MRR event, chosen at random; on success the model
	// follows.
	write := func(i int) error {
		uuids := make([]string, 0, len(m.custs))
		for _, id := range sortedIDs(m) {
			uuids = append(uuids, m.byID[id])
		}
		switch op := r.IntN(10); {
		case op < 5 || len(uuids) == 0:
			return create(Customer{Name: long, Email: fmt.Sprint(i, "@full.test"), Tags: randTags(r, 2)})
		case op < 7:
			u := pick(r, uuids)
			tags := randTags(r, 2)
			if _, err := ix.AddTags(u, tags...); err != nil {
				return err
			}
			m.addTags(u, tags)
		case op < 8:
			tag := fmt.Sprint("everyone-", i)
			if _, err := ix.AddTagsToSegment(All(), tag); err != nil {
				return err
			}
			for _, u := range uuids {
				m.addTags(u, []string{tag})
			}
		default:
			u := pick(r, uuids)
			at, cents := day(2024, 1, 1+r.IntN(28)), int64(r.IntN(5000))
			if err := ix.SetMRR(u, at, cents); err != nil {
				return err
			}
			m.custs[u].events[at.UnixNano()] = cents
		}
		return nil
	}
	for i := range 50 {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	space.fill(t, ix)
	// Writes until one fails for want of room: it is ErrIO, not
	// ErrCorrupt, names the cause, and changes nothing; reads go on.
	failures, i := 0, 50
	for ; failures < 5 && i < 5000; i++ {
		before := m.clone()
		err := write(i)
		if err == nil {
			continue
		}
		failures++
		if !errors.Is(err, ErrIO) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("write %d on a full disk: %v; want ErrIO, not ErrCorrupt", i, err)
		}
		if s := err.Error(); !strings.Contains(s, "file too large") && !strings.Contains(s, "no space left") {
			t.Errorf("write %d on a full disk: %q does not name the cause", i, s)
		}
		m = before
		checkAll(t, ix, m, fmt.Sprintf("after failed write %d", i))
	}
	if failures == 0 {
		t.Fatalf("no write failed on a full disk in %d writes", i)
	}
	// A Load on a full disk fails the same way.
	var cs []Customer
	for j := range 300 {
		cs = append(cs, Customer{UUID: fmt.Sprint("cus_load_", j), Name: long, Tags: []string{"loaded"}, DataSourceUUID: "ds", ExternalID: fmt.Sprint("load-", j)})
	}
	if n, err := ix.Load(loadSeq(cs, nil)); n != 0 || !errors.Is(err, ErrIO) {
		t.Fatalf("Load on a full disk: %d, %v; want 0 and ErrIO", n, err)
	}
	checkAll(t, ix, m, "after the failed Load")
	// Room again: writes work, without a reopen.
	space.free(t)
	for j := range 30 {
		if err := write(i + j); err != nil {
			t.Fatalf("write after room was freed: %v", err)
		}
	}
	if n, err := ix.Load(loadSeq(cs, nil)); n != len(cs) || err != nil {
		t.Fatalf("Load after room was freed: %d, %v", n, err)
	}
	for _, c := range cs {
		got, err := ix.CustomerByExternalID("ds", c.ExternalID)
		if err != nil {
			t.Fatal(err)
		}
		m.created(c, got)
	}
	checkAll(t, ix, m, "after room was freed")
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing acknowledged is lost, nothing else is there.
	ix = openTestAt(t, path, nil)
	checkAll(t, ix, m, "after reopen")
	t.Logf("%d writes, %d of them failed on the full disk", i, failures)
}

// sortedIDs lists the model's dense IDs in order.
func sortedIDs(m *model) []uint32 { return slices.Sorted(maps.Keys(m.byID)) }
