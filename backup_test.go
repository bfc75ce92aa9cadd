package tagseg

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A backup taken while a writer commits is one commit's index: it opens,
// passes Check, and holds a prefix of the writer's customers, each whole.
func TestBackupWhileWriting(t *testing.T) {
	ix := openTest(t)
	for i := range 200 {
		mustCreate(t, ix, Customer{Tags: []string{"before", fmt.Sprint("t", i%5)}})
	}
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := ix.CreateCustomer(Customer{Tags: []string{"during"}, ExternalID: fmt.Sprint(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var buf bytes.Buffer
	n, err := ix.Backup(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d, %v (buffer %d bytes)", n, err, buf.Len())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := openTestAt(t, path, nil)
	before, _ := cp.Count(Tag("before"))
	during, _ := cp.Count(Tag("during"))
	all, _ := cp.Count(All())
	if before != 200 || during > 200 || all != before+during {
		t.Errorf("backup: %d before, %d during, %d in all", before, during, all)
	}
	if err := cp.Check(); err != nil {
		t.Fatal(err)
	}
	// The copy is a working index.
	if _, err := cp.CreateCustomer(Customer{Tags: []string{"after"}}); err != nil {
		t.Fatal(err)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A failing writer ends Backup with its error; after Close, ErrClosed.
func TestBackupErrors(t *testing.T) {
	ix := openTest(t)
	mustCreate(t, ix, Customer{})
	if _, err := ix.Backup(&failWriter{after: 10000}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
		t.Errorf("Backup to a failing writer: %v", err)
	}
	ix.Close()
	if _, err := ix.Backup(&bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Backup after Close: %v", err)
	}
}
