package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagseg/tagseg"
)

// TestDemo runs the demo on a small data set and checks its report against
// the index it built.
func TestDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	var stdout, stderr strings.Builder
	if code := run([]string{"demo", "-customers", "3000", "-db", db}, &stdout, &stderr); code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"Loaded 3,000 customers", "Largest tags", "1. Feature requests", "2. tag:churn-risk-high", "3. tags:any(", "month by month", "2025-12"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if want := "tagseg serve -db " + db + ", then open http://127.0.0.1:8080/?from=2023-01-01&to=2025-12-31"; !strings.Contains(out, want) {
		t.Errorf("report lacks %q:\n%s", want, out)
	}
	if !strings.Contains(stderr.String(), "loaded 3,000/3,000 customers") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
	ix, err := tagseg.Open(db, &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	e, _ := tagseg.Parse(`tag:churn-risk-high AND NOT tag:managed-account`)
	seg, err := ix.Segment(e)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("   %s customers (%s paying), MRR %s,", count(seg.Count()), count(seg.Paying()), money(seg.MRR()))
	if !strings.Contains(out, want) {
		t.Errorf("report lacks %q:\n%s", want, out)
	}
	// Without -db the index is temporary, and the report says how to keep it.
	var tmpOut strings.Builder
	if code := run([]string{"demo", "-customers", "50"}, &tmpOut, &stderr); code != 0 {
		t.Fatalf("demo without -db exited %d: %s", code, stderr.String())
	}
	if want := "give -db demo.db to keep it"; !strings.Contains(tmpOut.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, tmpOut.String())
	}
	if code := run([]string{"demo", "-customers", "10", "-db", db}, &stdout, &stderr); code == 0 {
		t.Error("demo overwrote an existing index")
	}
}
