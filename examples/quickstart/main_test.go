package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out strings.Builder
	if err := run(&out, filepath.Join(t.TempDir(), "q.db")); err != nil {
		t.Fatal(err)
	}
	want := `tag:churn-risk-high AND tags:any(plan-pro, plan-enterprise) AND NOT tag:managed-account
  customers 1, MRR $100, ARR $1200, ARPA $100
  Acme [plan-pro churn-risk-high feature-sso]
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
