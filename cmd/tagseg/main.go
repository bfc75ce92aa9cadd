// Command tagseg imports, queries and serves a tagseg index.
//
// Usage:
//
//	tagseg demo     [-customers N] [-db PATH] [-seed N]
//	tagseg import   -db PATH [-replace-tags] [-on-duplicate refuse|last] [-skip-bad] [-dry-run] [-from-line N] [-events [-units]] FILE...
//	tagseg query    -db PATH [-limit 10] [-format table|csv|json|jsonl] [QUERY...]
//	tagseg tags     -db PATH [-query Q | QUERY...] [-prefix P] [-limit 50] [-by mrr|count] [-format ...]
//	tagseg series   -db PATH [-query Q | QUERY...] -from DATE -to DATE [-every month] [-format ...]
//	tagseg segments -db PATH list|save NAME QUERY|delete NAME
//	tagseg watch    -db PATH -segment NAME [-after CURSOR] [-follow=false]
//	tagseg tag      -db PATH (-uuid U | -email E | -external-id ID -data-source DS | -query Q) [-dry-run] [-confirm N] TAG...
//	tagseg untag    -db PATH (-uuid U | -email E | -external-id ID -data-source DS | -query Q) [-dry-run] [-confirm N] TAG...
//	tagseg rename-tag -db PATH [-merge] OLD NEW
//	tagseg delete-tag -db PATH TAG...
//	tagseg set-mrr  -db PATH (-uuid U | -email E | -external-id ID -data-source DS) [-at DATE] [-units] MRR
//	tagseg info     -db PATH [-format table|csv|json]
//	tagseg check    -db PATH
//	tagseg serve    -db PATH [-create] [-addr 127.0.0.1:8080] [-api-key KEY]
//	tagseg backup   -db PATH OUT|-
//	tagseg export   -db PATH [-query Q | -segment NAME] -format roaring|csv|jsonl [-out FILE] [-ids FILE] [-events FILE]
//	tagseg tag-import -db PATH -tag NAME [-add] [-format auto|roaring|mapping|extids] [-data-source UUID] FILE|-
//
// Every command takes -db, which defaults to $TAGSEG_DB; a file that does
// not exist is an error for every command but import, demo and serve
// -create. Flags may come before or after the other arguments; "--" ends
// the flags. Run "tagseg help COMMAND" for the flags of one command (help
// goes to standard output), "tagseg help query" for the query language,
// "tagseg --version" for the version. -limit 0 means no limit everywhere.
//
// While tagseg serve holds an index, the commands that read or change it
// (all but check and demo) go through the server: the serve note
// beside the index (PATH.serve.json) says where it listens, or -server URL
// names it. A note whose server is gone (killed) is removed when nobody
// holds the file.
//
// Exit status: 0 on success, 1 when the command failed, 2 for a usage error.
//
// Money is in cents everywhere in JSON and CSV output; the text tables show
// it as units with two decimals (12345 cents → 123.45), without a currency.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// A command is one subcommand of tagseg. run gets the arguments after the
// command's name; it writes its results to stdout and its diagnostics to
// stderr. A usageError makes tagseg exit with status 2, any other error
// with status 1.
type command struct {
	run     func(args []string, stdout, stderr io.Writer) error
	summary string
}

// commands is the table of subcommands; add one by adding an entry.
var commands = map[string]command{
	"demo":     {runDemo, "build a synthetic index and show what tagseg answers over it"},
	"import":   {runImport, "import customers and tags from CSV or JSON Lines files"},
	"query":    {runQuery, "count a segment and its MRR, ARR and ARPA; list its first customers"},
	"tags":     {runTags, "the tags of a segment, with their customers and MRR"},
	"series":   {runSeries, "the MRR series of a segment, with its movements"},
	"segments": {runSegments, "list, save and delete saved segments"},
	"watch":    {runWatch, "a saved segment's changes (who entered, who left) as JSON lines, following new ones"},
	"backup":   {runBackup, "write a consistent copy of the index, atomically or to standard output"},
	"serve":    {runServe, "serve a ChartMogul-style HTTP API over the index"},

	// Segments to and from other engines (export.go, tagimport.go).
	"export":     {runExport, "write a segment as a portable Roaring bitmap of IDs, or as CSV/JSON Lines for import"},
	"tag-import": {runTagImport, "set a tag on exactly the customers of a Roaring bitmap or a list of external IDs"},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is an error in how tagseg was called. printed means the
// message has been shown already (the flag package prints its own).
type usageError struct {
	msg     string
	printed bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs tagseg with the arguments after the program name and returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	helpOut = stdout
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if args[1] == "query" {
				printQueryGuide(stdout) // then the query command's flags
				fmt.Fprintln(stdout)
			}
			if _, ok := commands[args[1]]; ok {
				return run([]string{args[1], "-h"}, stdout, stderr)
			}
			return badCommand(args[1], stderr)
		}
		printUsage(stdout)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		return badCommand(name, stderr)
	}
	err := cmd.run(args[1:], stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue) && ue.printed:
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "tagseg %s: %v\nRun 'tagseg help %s' for usage.\n", name, err, name)
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "tagseg %s: %s\n", name, cleanErr(err))
		return 1
	}
}

// badCommand reports a command tagseg does not have, the error last: after
// the list of commands, or after where to find it when a command is close
// enough to be meant ("did you mean").
func badCommand(name string, stderr io.Writer) int {
	msg := unknownCommand(name)
	if strings.Contains(msg, "did you mean") {
		fmt.Fprintln(stderr, "Run 'tagseg help' for the commands.")
	} else {
		printUsage(stderr)
	}
	fmt.Fprintln(stderr, msg)
	return 2
}

// errReported is returned by a command that has already told the user
// what went wrong; run only sets the exit status.
var errReported = errors.New("failed")

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tagseg COMMAND [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'tagseg help COMMAND' for the flags of a command, 'tagseg help query' for")
	fmt.Fprintln(w, "the query language, 'tagseg --version' for the version.")
}

// newFlagSet returns a flag set for a command that reports errors through
// the returned error (not by exiting) and prints help to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tagseg "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tagseg %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	synopses.Store(fs, "tagseg "+name+" "+strings.SplitN(usage, "\n", 2)[0])
	return fs
}

// synopses holds each flag set's one-line usage, for flag errors.
var synopses sync.Map // *flag.FlagSet → string

// flagError reports an error of the flag package: the command's one-line
// usage, where to find its flags, and the error last, where it is seen,
// with a "did you mean" for a flag the command does not have.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if s := suggest(strings.TrimLeft(name, "-"), names); s != "" {
			msg += fmt.Sprintf("; did you mean -%s?", s)
		} else {
			msg += "; the flags are: -" + strings.Join(names, ", -")
		}
	}
	cmd := strings.TrimPrefix(fs.Name(), "tagseg ")
	w := fs.Output()
	if syn, ok := synopses.Load(fs); ok {
		fmt.Fprintf(w, "Usage: %s\n", syn)
	}
	fmt.Fprintf(w, "Run 'tagseg help %s' for its flags.\n%s: %s\n", cmd, fs.Name(), msg)
	return &usageError{msg: msg, printed: true}
}

// dbFlag adds the -db flag, defaulting to $TAGSEG_DB.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", os.Getenv("TAGSEG_DB"), "the index `file` (default $TAGSEG_DB)")
}

// parseArgs parses flags that may be mixed with positional arguments (Go's
// flag package stops at the first positional argument) and returns the
// positional ones. "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	if wantsHelp(args) {
		// Help asked for goes to standard output; the usage after a
		// flag error goes to stderr.
		out := fs.Output()
		fs.SetOutput(helpOut)
		fs.Usage()
		fs.SetOutput(out)
		return nil, flag.ErrHelp
	}
	var pos []string
	out := fs.Output()
	fs.SetOutput(io.Discard) // flagError says what went wrong
	defer fs.SetOutput(out)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			fs.SetOutput(out)
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		// fs.Parse consumed a "--" if it stopped there.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseFlagsOnly parses the flags of a command that takes no positional
// arguments and needs -db; hint follows the complaint about an argument.
func parseFlagsOnly(fs *flag.FlagSet, args []string, db *string, hint string) error {
	pos, err := parseDBArgs(fs, args, db)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q%s", pos[0], hint)
	}
	return nil
}

// parseServedArgs is parseArgs for a command that can go through a
// server: -db is needed unless -server names one.
func parseServedArgs(fs *flag.FlagSet, args []string, db *string, sf *serverFlags) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if sf.url != "" && *db == "" {
		return pos, nil
	}
	return pos, needDB(*db)
}

// parseDBArgs is parseArgs for a command that needs -db: a missing one is
// a usage error.
func parseDBArgs(fs *flag.FlagSet, args []string, db *string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	return pos, needDB(*db)
}

// needDB checks that -db was given, and names a file, not a directory.
func needDB(path string) error {
	if path == "" {
		return usagef("missing -db (or $TAGSEG_DB)")
	}
	return notDir(path)
}

// notDir refuses an index path that is a directory.
func notDir(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return usagef("-db %s is a directory: give the index file (such as %s)", path, filepath.Join(path, "customers.db"))
	}
	return nil
}
