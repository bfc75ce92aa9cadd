package tagseg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustApplied(t *testing.T, ix *Index, want uint64) {
	t.Helper()
	if n, err := ix.Applied(); err != nil || n != want {
		t.Fatalf("Applied() = %d, %v; want %d", n, err, want)
	}
}

// The applied index commits with the batch's writes, or not at all; it
// survives reopen, travels with Backup and Restore.
func TestApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustApplied(t, ix, 0)
	c := mustCreate(t, ix, Customer{Tags: []string{"a"}})
	err = ix.Update(func(tx *Tx) error {
		if _, err := tx.AddTags(c.UUID, "b"); err != nil {
			return err
		}
		return tx.SetApplied(5)
	})
	if err != nil {
		t.Fatal(err)
	}
	mustApplied(t, ix, 5)
	// A batch rolled back takes its applied index with it.
	boom := errors.New("boom")
	err = ix.Update(func(tx *Tx) error {
		if _, err := tx.AddTags(c.UUID, "c"); err != nil {
			return err
		}
		if err := tx.SetApplied(6); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	mustApplied(t, ix, 5)
	// A batch that changes nothing else still commits its applied index.
	if err := ix.Update(func(tx *Tx) error {
		if _, err := tx.AddTags(c.UUID, "a"); err != nil { // has it: a no-op
			return err
		}
		return tx.SetApplied(7)
	}); err != nil {
		t.Fatal(err)
	}
	mustApplied(t, ix, 7)
	if err := ix.View(func(tx *Tx) error { return tx.SetApplied(8) }); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("SetApplied in View = %v, want ErrReadOnly", err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Applied(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Applied after Close = %v, want ErrClosed", err)
	}
	ix = openTestAt(t, path, &Options{NoSync: true})
	mustApplied(t, ix, 7)
	got, err := ix.Customer(c.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got.Tags); diff != "" {
		t.Fatalf("tags after reopen (-want +got):\n%s", diff)
	}

	// Backup carries it; Restore puts the copy in place atomically while
	// the old index stays usable until closed.
	var buf bytes.Buffer
	if _, err := ix.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "b.db")
	ob, err := Open(other, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	mustCreate(t, ob, Customer{Tags: []string{"old"}})
	if err := ob.Update(func(tx *Tx) error { return tx.SetApplied(3) }); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()
	if n, err := Restore(other, bytes.NewReader(snap)); err != nil || n != int64(len(snap)) {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	mustApplied(t, ob, 3) // the old file, still open
	if n, _ := ob.Count(Tag("old")); n != 1 {
		t.Fatalf("old index after Restore: %d with tag old, want 1", n)
	}
	// (its Check would now read the new file at its path: close it first)
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	nb := openTestAt(t, other, &Options{NoSync: true})
	mustApplied(t, nb, 7)
	if n, _ := nb.Count(Tag("b")); n != 1 {
		t.Fatalf("restored index: %d with tag b, want 1", n)
	}
	if n, _ := nb.Count(Tag("old")); n != 0 {
		t.Fatalf("restored index: %d with tag old, want 0", n)
	}

	// A damaged or truncated copy changes nothing and leaves no file.
	for name, bad := range map[string][]byte{
		"truncated": snap[:len(snap)/2],
		"empty":     nil,
		"garbage":   bytes.Repeat([]byte("x"), 8192),
	} {
		_, err := Restore(other, bytes.NewReader(bad))
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Errorf("Restore(%s) = %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := Restore(other, iotestErrReader{}); err == nil || !strings.Contains(err.Error(), "copy") {
		t.Errorf("Restore of a failing reader = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(other))
	if len(entries) != 1 {
		t.Errorf("files beside the index after failed restores: %v", entries)
	}
	if err := nb.Check(); err != nil {
		t.Fatal(err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("read fails") }

// ExampleTx_SetApplied applies numbered entries of a replicated log once
// each, across restarts: an entry's writes and its number commit together.
func ExampleTx_SetApplied() {
	dir, _ := os.MkdirTemp("", "applied")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "replica.db")
	log := []string{"vip", "churn-risk", "vip"} // entry i+1 tags cus_1 with log[i]

	apply := func() {
		ix, _ := Open(path, nil)
		defer ix.Close()
		done, _ := ix.Applied()
		for i := done; i < uint64(len(log)); i++ {
			ix.Update(func(tx *Tx) error {
				if i == 0 {
					tx.CreateCustomer(Customer{UUID: "cus_1"})
				}
				tx.AddTags("cus_1", log[i])
				return tx.SetApplied(i + 1)
			})
		}
		c, _ := ix.Customer("cus_1")
		n, _ := ix.Applied()
		fmt.Println(n, c.Tags)
	}
	apply()
	apply() // a restart: nothing applied twice
	// Output:
	// 3 [vip churn-risk]
	// 3 [vip churn-risk]
}

const appliedCrashEnv = "TAGSEG_APPLIED_CRASH_CHILD"

// TestAppliedCrashChild is the child of TestAppliedCrash: it applies
// entries n = Applied()+1, … each in one durable Update (tag e<n> on
// cus_crash, SetApplied(n)), printing n after each returned nil.
func TestAppliedCrashChild(t *testing.T) {
	path := os.Getenv(appliedCrashEnv)
	if path == "" {
		t.Skip("the child process of TestAppliedCrash")
	}
	time.AfterFunc(60*time.Second, func() { os.Exit(4) })
	ix, err := Open(path, nil)
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	n, _ := ix.Applied()
	for n++; ; n++ {
		err := ix.Update(func(tx *Tx) error {
			if n == 1 {
				if _, err := tx.CreateCustomer(Customer{UUID: "cus_crash"}); err != nil {
					return err
				}
			}
			if _, err := tx.AddTags("cus_crash", fmt.Sprint("e", n)); err != nil {
				return err
			}
			return tx.SetApplied(n)
		})
		if err != nil {
			fmt.Println("E", err)
			os.Exit(2)
		}
		fmt.Println("A", n)
	}
}

// TestAppliedCrash kills a child applying numbered entries (SIGKILL at a
// random moment) and reopens the file: the applied index is at least the
// last acknowledged entry, and the file holds exactly the writes of the
// entries up to it: none lost, none half-applied, none beyond.
func TestAppliedCrash(t *testing.T) {
	if os.Getenv(appliedCrashEnv) != "" {
		t.Skip("in the child")
	}
	r := newRand(testSeed(t))
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAppliedCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), appliedCrashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := uint64(0)
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		kill := time.After(time.Duration(50+r.IntN(300)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if a, ok := strings.CutPrefix(l, "A "); ok {
					acked, _ = strconv.ParseUint(a, 10, 64)
				} else if strings.HasPrefix(l, "E ") {
					t.Fatalf("child: %s", l)
				}
			case <-kill:
				cmd.Process.Kill() // SIGKILL
				kill = nil
			}
		}
		cmd.Wait()
		ix, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		n, err := ix.Applied()
		if err != nil || n < acked {
			t.Fatalf("round %d: Applied() = %d, %v; last acknowledged %d", round, n, err, acked)
		}
		var want []string
		for i := uint64(1); i <= n; i++ {
			want = append(want, fmt.Sprint("e", i))
		}
		var got []string
		if n > 0 {
			c, err := ix.Customer("cus_crash")
			if err != nil {
				t.Fatal(err)
			}
			got = c.Tags
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: applied %d (acknowledged %d), tags (-want +got):\n%s", round, n, acked, diff)
		}
		if err := ix.Check(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d entries applied, %d acknowledged", round, n, acked)
		ix.Close()
	}
}

// ExampleRestore puts a Backup copy in place of another index's file.
func ExampleRestore() {
	dir, _ := os.MkdirTemp("", "restore")
	defer os.RemoveAll(dir)
	src, _ := Open(filepath.Join(dir, "src.db"), nil)
	src.CreateCustomer(Customer{UUID: "cus_1", Tags: []string{"vip"}})
	var copy bytes.Buffer
	src.Backup(&copy)
	src.Close()

	dst := filepath.Join(dir, "dst.db")
	if _, err := Restore(dst, &copy); err != nil {
		fmt.Println(err)
		return
	}
	ix, _ := Open(dst, nil)
	defer ix.Close()
	c, _ := ix.Customer("cus_1")
	fmt.Println(c.Tags)
	// Output: [vip]
}
