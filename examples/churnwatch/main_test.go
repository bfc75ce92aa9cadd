package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestChurnWatch(t *testing.T) {
	var out strings.Builder
	if err := run(&out, filepath.Join(t.TempDir(), "c.db")); err != nil {
		t.Fatal(err)
	}
	// Acme: new 500 (Jan), contraction -200 (Mar), churn -300 (May).
	// Initech: new 100 (Feb), churn -100 (Apr), reactivation 250 (Jun).
	// Globex is a managed account, Hooli is not at risk: both left out.
	want := `tag:churn-risk-high AND NOT tag:managed-account: 2 customers, MRR $250
month    MRR  paying  new  exp  contr  churn  react
2024-01  500       1  500    0      0      0      0
2024-02  600       2  100    0      0      0      0
2024-03  400       2    0    0   -200      0      0
2024-04  300       1    0    0      0   -100      0
2024-05    0       0    0    0      0   -300      0
2024-06  250       1    0    0      0      0    250
untagged 3 customers; the segment now has 0
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
