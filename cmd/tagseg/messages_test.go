package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMessagesNameRealFlags: every -flag that a message, a usage text or
// a help string of the command names (any string literal of the
// package's code) is a flag of some command; and a command's own help
// names only its flags, or another command's flag as "COMMAND's -flag" or
// "serve -flag".
func TestMessagesNameRealFlags(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
	mention := regexp.MustCompile(`(^|[\s("'\[|,/])-([a-z][a-z0-9-]*[a-z0-9](-\*)?)`)
	all := map[string]bool{"h": true, "help": true, "version": true} // tagseg's own
	own := map[string]map[string]bool{}
	help := map[string]string{}
	for _, name := range commandNames() {
		var out bytes.Buffer
		if code := run([]string{"help", name}, &out, &out); code != 0 {
			t.Fatalf("help %s: exit %d", name, code)
		}
		help[name] = out.String()
		own[name] = map[string]bool{}
		for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
			all[m[1]] = true
			own[name][m[1]] = true
		}
	}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, m := range mention.FindAllStringSubmatch(s, -1) {
				if !known(all, m[2]) {
					t.Errorf("%s: %q names -%s, which no command has", fset.Position(lit.Pos()), s, m[2])
				}
			}
			return true
		})
	}
	// A command's help: its own flags, or another's named as such.
	other := regexp.MustCompile(`(serve|export|import|query) -([a-z][a-z0-9-]*)|(serve|export|import|query)'s -([a-z][a-z0-9-]*)`)
	for name, h := range help {
		h = other.ReplaceAllString(h, "")
		for _, m := range mention.FindAllStringSubmatch(h, -1) {
			if !known(own[name], m[2]) && !slices.Contains([]string{"h", "help"}, m[2]) {
				t.Errorf("help %s names -%s, which it does not have:\n%s", name, m[2], h)
			}
		}
	}
}

// known reports whether flag is in flags; "x-*" stands for a family of
// flags, known when one starts with "x-".
func known(flags map[string]bool, flag string) bool {
	prefix, family := strings.CutSuffix(flag, "-*")
	if !family {
		return flags[flag]
	}
	for f := range flags {
		if strings.HasPrefix(f, prefix+"-") {
			return true
		}
	}
	return false
}
