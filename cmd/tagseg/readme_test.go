package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// readmeBlocks returns the sh blocks of the README's section that starts
// with heading, each as its commands (continuation lines joined).
func readmeBlocks(t *testing.T, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	text = text[i+len(heading)+2:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var blocks [][]string
	for {
		i := strings.Index(text, "```sh\n")
		if i < 0 {
			return blocks
		}
		text = text[i+len("```sh\n"):]
		j := strings.Index(text, "```\n")
		var cmds []string
		cur := ""
		for _, l := range strings.Split(text[:j], "\n") {
			if l == "" {
				continue
			}
			if strings.HasSuffix(l, "\\") {
				cur += strings.TrimSuffix(l, "\\")
				continue
			}
			cmds = append(cmds, cur+l)
			cur = ""
		}
		blocks = append(blocks, cmds)
		text = text[j:]
	}
}

// TestREADMECommands runs the command block of README.md's "The command
// and the HTTP API" as written, line by line in bash, in a new directory
// with the tagseg the tests build (for its "go build" line), then its
// curl block against the server the block starts. Two things differ: the
// demo has 3,000 customers, not 200,000 (time), and serve listens on a
// free port, not 8080 (the curl gets that port). Every line must exit 0;
// the serve line runs in the background, and the lines after it go
// through the server.
func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a demo index")
	}
	blocks := readmeBlocks(t, "## The command and the HTTP API")
	if len(blocks) < 2 || !strings.HasPrefix(blocks[0][0], "go build -o tagseg ./cmd/tagseg") || !strings.HasPrefix(blocks[1][0], "curl ") {
		t.Fatalf("the README's blocks are not the command block and a curl: %q", blocks)
	}
	dir := t.TempDir()
	if err := os.Symlink(tagsegBinary(t), filepath.Join(dir, "tagseg")); err != nil {
		t.Fatal(err)
	}
	bash := func(line string) *exec.Cmd {
		cmd := exec.Command("bash", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TAGSEG_API_KEY=")
		return cmd
	}
	base := ""
	for _, line := range blocks[0] {
		switch {
		case strings.HasPrefix(line, "go build -o tagseg ./cmd/tagseg"):
			continue // the test's own build
		case strings.Contains(line, "./tagseg serve "):
			line = strings.Replace(line, "-addr 127.0.0.1:8080", "-addr 127.0.0.1:0", 1)
			cmd := bash("exec " + line) // bash becomes tagseg serve
			var log syncBuffer
			cmd.Stderr = &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			})
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if n, ok := readServeNote(filepath.Join(dir, "demo.db")); ok {
					base = n.URL
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: no server: %s", line, log.String())
				}
			}
			continue
		}
		line = strings.Replace(line, "-customers 200000", "-customers 3000", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := bash(line)
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "TAGSEG_API_KEY=")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README line fails: %s\n%v\n%s", line, err, out)
		}
		if base != "" && !strings.Contains(line, "pro.db") && !strings.Contains(string(out), "going through it at "+base) {
			t.Errorf("README line after serve does not go through the server: %s\n%s", line, out)
		}
	}
	if base == "" {
		t.Fatal("the block starts no server")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Logf("no curl here: the curl block is not run")
	} else {
		for _, line := range blocks[1] {
			line = strings.ReplaceAll(line, "http://127.0.0.1:8080", base)
			out, err := bash(line).CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"entries"`) || !strings.Contains(string(out), "user0@vectorloop.de") {
				t.Errorf("README curl fails: %s\n%v\n%s", line, err, out)
			}
		}
	}
	// What the block did.
	ix, err := tagseg.Open(filepath.Join(dir, "pro.db"), &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	pro, err1 := ix.Count(tagseg.Tag("plan-pro"))
	tagged, err2 := ix.Count(tagseg.Tag("pro-2025"))
	if err1 != nil || err2 != nil || pro == 0 || tagged != pro {
		t.Errorf("pro.db: %d plan-pro, %d pro-2025 (%v %v); want the same, more than 0", pro, tagged, err1, err2)
	}
	cp, err := tagseg.Open(filepath.Join(dir, "demo-copy.db"), &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if n, err := cp.Count(tagseg.Tag("call-this-week")); err != nil || n == 0 {
		t.Errorf("demo-copy.db: %d customers tagged call-this-week (%v)", n, err)
	}
}
