package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestFeatureRank(t *testing.T) {
	var out strings.Builder
	if err := run(&out, filepath.Join(t.TempDir(), "f.db")); err != nil {
		t.Fatal(err)
	}
	// feature-sso: Acme 2400 + Globex 900 + Initech 150; feature-audit-log:
	// Acme 2400 + Umbrella 1200; feature-api: Initech only (internal left
	// out); feature-dark-mode: Initech only (Hooli pays nothing).
	want := `feature            customers        MRR
feature-audit-log          2      $3600
feature-sso                3      $3450
feature-api                1       $150
feature-dark-mode          1       $150
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
