package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagseg/tagseg"
)

// tagseg backup writes a copy that opens as the same index, to a file
// (atomically: no temporary file left) or to standard output, and refuses
// bad calls with a usage error.
func TestBackupCommand(t *testing.T) {
	db := tempDB(t)
	ix, err := tagseg.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := ix.CreateCustomer(tagseg.Customer{Tags: []string{"vip", strings.Repeat("t", 1+i%3)}}); err != nil {
			t.Fatal(err)
		}
	}
	ix.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.db")
	if code, _, stderr := cli(t, "backup", "-db", db, out); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("backup left %d files in the directory, want the copy alone", len(entries))
	}
	var stdout bytes.Buffer
	if code := run([]string{"backup", "-db", db, "-"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("backup to stdout: exit %d", code)
	}
	piped := filepath.Join(dir, "piped.db")
	if err := os.WriteFile(piped, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{out, piped} {
		cp, err := tagseg.Open(p, nil)
		if err != nil {
			t.Fatalf("open the copy %s: %v", p, err)
		}
		if err := cp.Check(); err != nil {
			t.Errorf("copy %s: %v", p, err)
		}
		if n, _ := cp.Count(tagseg.Tag("vip")); n != 50 {
			t.Errorf("copy %s: %d vip customers, want 50", p, n)
		}
		cp.Close()
	}
	for _, args := range [][]string{
		{"backup", "-db", db},
		{"backup", "-db", db, out, "extra"},
		{"backup", "-db", db, db},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := cli(t, "backup", "-db", filepath.Join(dir, "typo.db"), filepath.Join(dir, "x.db")); code != 1 || !strings.Contains(stderr, "no such index") {
		t.Errorf("backup of a missing index: exit %d, %q", code, stderr)
	}
}
