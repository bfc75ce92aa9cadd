package main

// tagseg import: the run. Rows are read in batches of -batch rows. Each
// batch is sorted out against the index in one read (a row names an
// existing customer by uuid or by (data_source_uuid, external_id), or a
// new one); rows of one batch that name the same customer are merged.
// New customers are created with Index.Load, existing ones updated in one
// Index.Update transaction for the batch. A row the index refuses is
// reported and the batch is written without it. When a batch is written,
// every line up to its last is settled: landed or refused. That is the
// durable line an interruption reports.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/schollz/progressbar/v3"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// importSignals is the context that interrupts an import; tests replace it.
var importSignals = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

type importOpts struct {
	db           string
	replaceTags  bool
	allowUnkeyed bool
	skipBad      bool
	abort        bool
	dupLast      bool // -on-duplicate last
	dryRun       bool
	fromLine     int
	batch        int
	mrrAt        time.Time
	mrrAtGiven   bool
	pause        time.Duration // between batches (TAGSEG_IMPORT_PAUSE, for tests of interruption)
}

func runImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", importUsage, stderr)
	db := dbFlag(fs)
	format := fs.String("format", "", "input `format`: csv or jsonl (default: from each file's extension)")
	batch := fs.Int("batch", 50_000, "`rows` per batch: one read, one Load and one Update transaction each")
	onError := fs.String("on-error", "skip", "on a refused row: skip (report it, import the rest) or abort (stop reading)")
	onDup := fs.String("on-duplicate", "refuse", "on a row naming a customer an earlier row of the same file named: refuse it (report both lines), or last (apply the later row over the earlier)")
	skipBad := fs.Bool("skip-bad", false, "exit 0 even when rows were refused (a partial import is fine)")
	replaceTags := fs.Bool("replace-tags", false, "make the file's tags the truth: an existing customer loses the tags its row does not list")
	allowUnkeyed := fs.Bool("allow-unkeyed", false, "create rows with neither uuid nor (data_source_uuid, external_id); they are created again on every run")
	dryRun := fs.Bool("dry-run", false, "check every row against the index and report what would change; write nothing")
	fromLine := fs.Int("from-line", 0, "skip the rows of the first FILE before `line` (to resume an interrupted import)")
	events := fs.Bool("events", false, "the files are MRR events (customer key, date, mrr), not customers")
	units := fs.Bool("units", false, "-events: mrr is in units (12.34), not cents")
	mrrAtFlag := fs.String("mrr-at", "", "`time` of the MRR of rows without mrr_at (default: when the import starts)")
	tagSep := fs.String("tag-sep", ",", "`separator` of the tags in a CSV tags cell")
	server := serverFlag(fs)
	files, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no input files")
	}
	if *format != "" && *format != "csv" && *format != "jsonl" {
		return usagef("-format %q: want csv or jsonl", *format)
	}
	if *batch < 1 {
		return usagef("-batch %d: want at least 1", *batch)
	}
	if *onError != "skip" && *onError != "abort" {
		return usagef("-on-error %q: want skip or abort", *onError)
	}
	if *onDup != "refuse" && *onDup != "last" {
		return usagef("-on-duplicate %q: want refuse or last", *onDup)
	}
	if *tagSep == "" {
		return usagef("-tag-sep must not be empty")
	}
	if *fromLine < 0 {
		return usagef("-from-line %d: want a line number", *fromLine)
	}
	if *units && !*events {
		return usagef("-units is for -events files")
	}
	start := time.Now()
	o := importOpts{db: *db, replaceTags: *replaceTags, allowUnkeyed: *allowUnkeyed, skipBad: *skipBad,
		abort: *onError == "abort", dupLast: *onDup == "last", dryRun: *dryRun, fromLine: *fromLine, batch: *batch, mrrAt: start.UTC()}
	if *mrrAtFlag != "" {
		if o.mrrAt, err = api.ParseTime(*mrrAtFlag); err != nil {
			return usagef("-mrr-at: %v", err)
		}
		o.mrrAtGiven = true
	}
	if p := os.Getenv("TAGSEG_IMPORT_PAUSE"); p != "" {
		o.pause, _ = time.ParseDuration(p)
	}

	// Open every input and read the CSV headers first, so that a missing
	// file or a bad header stops the import before anything lands.
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			s.close()
		}
	}()
	stdinUsed := false
	var total int64
	for _, name := range files {
		f := *format
		if f == "" {
			f = formatOf(name)
			if f == "" {
				return usagef("%s: cannot tell the format from the extension; give -format csv or -format jsonl", name)
			}
		}
		if name == "-" {
			if stdinUsed {
				return usagef("standard input (-) given twice")
			}
			stdinUsed = true
		}
		var s *source
		if *events {
			s, err = openEventSource(name, f, *units)
		} else {
			s, err = openSource(name, f, *tagSep)
		}
		if s != nil {
			srcs = append(srcs, s)
		}
		if err != nil {
			return err
		}
		if total >= 0 && s.size >= 0 {
			total += s.size
		} else {
			total = -1
		}
	}

	var ix *tagseg.Index
	rm := remoteFor(o.db, server, stderr)
	if rm == nil {
		var cleanup func()
		if ix, cleanup, err = openImportIndex(o); err != nil {
			return err
		}
		defer cleanup()
	}

	ctx, stop := importSignals()
	defer stop()
	go func() {
		// After the first signal, the next one acts as if none were
		// caught: a second Ctrl-C kills a batch that takes too long.
		<-ctx.Done()
		stop()
	}()
	im := &importer{ix: ix, remote: rm, o: o, ctx: ctx, stdout: stdout, stderr: stderr, created: map[string]bool{}}
	if isTerminal(stderr) {
		im.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
		im.start = start
	}
	var runErr error
	for i, s := range srcs {
		fst := &fileStats{name: s.name}
		im.files = append(im.files, fst)
		if i == 0 {
			fst.fromLine = o.fromLine
		}
		if *events {
			runErr = im.importEvents(s, fst)
		} else {
			runErr = im.importSource(s, fst)
		}
		im.read += s.read
		s.close()
		if runErr != nil || im.interrupted() || im.stopped {
			for _, s := range srcs[i+1:] {
				im.pending = append(im.pending, s.name)
			}
			break
		}
	}
	if im.bar != nil {
		im.bar.Finish()
	}
	im.summary(*events)
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "%s rows in %v (%s rows/s)\n", count(im.rows), elapsed.Round(time.Millisecond), count(int64(float64(im.rows)/elapsed.Seconds())))
	switch {
	case runErr != nil:
		fmt.Fprintf(stderr, "tagseg import: %s\n", cleanErr(runErr))
		im.resumeHint(files)
		return errReported
	case im.interrupted():
		fmt.Fprintf(stderr, "tagseg import: interrupted\n")
		im.resumeHint(files)
		return errReported
	case im.stopped:
		fmt.Fprintf(stderr, "tagseg import: stopped at the first refused row (-on-error abort)\n")
		im.resumeHint(files)
		return errReported
	case im.refused > 0 && !o.skipBad:
		fmt.Fprintf(stderr, "tagseg import: %s refused; fix them and import the files again (rows that landed are updated, not duplicated), or give -skip-bad to accept the partial import\n", plural(im.refused, "row", "rows"))
		return errReported
	}
	return nil
}

// openImportIndex opens the index an import writes to. A dry run opens an
// existing index read-only (and none when the file does not exist); it
// checks what it would write on a scratch index it throws away.
func openImportIndex(o importOpts) (*tagseg.Index, func(), error) {
	if !o.dryRun {
		ix, err := tagseg.Open(o.db, nil)
		if err != nil {
			return nil, nil, openError(o.db, err)
		}
		return ix, func() { ix.Close() }, nil
	}
	if _, err := os.Stat(o.db); err != nil {
		return nil, func() {}, nil
	}
	ix, err := tagseg.Open(o.db, &tagseg.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, openError(o.db, err)
	}
	return ix, func() { ix.Close() }, nil
}

// fileStats are the results of one input file.
type fileStats struct {
	name                                 string
	fromLine                             int // rows before it skipped (-from-line)
	rows, before                         int // rows read; of them, skipped before fromLine
	created, updated, unchanged, refused int
	lastLine                             int    // the last line read
	durable                              int    // every row through this line has landed or was refused
	stopped                              string // why the file was not read to its end
}

type importer struct {
	ix     *tagseg.Index // nil: a dry run without an index, or through a server
	remote *remote       // the server the rows go through (importremote.go)
	o      importOpts
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer

	bar   *progressbar.ProgressBar
	start time.Time
	read  int64 // bytes of the files done

	files   []*fileStats
	pending []string // files not reached
	rows    int
	refused int
	stopped bool            // -on-error abort stopped the import
	created map[string]bool // dry run: keys of the customers it would create
	// The lines of the file being read that named each customer: by
	// dense ID (0: none), and for a dry run by key, for the customers it
	// would create. A row naming one again is a duplicate.
	named    []int32
	keyLines map[string]int
	namedIDs *roaring.Bitmap // through a server: the IDs in named
	// checkRow refuses a row as it is read (customers, not events).
	checkRow func(*row) error
}

func (im *importer) interrupted() bool { return im.ctx.Err() != nil }

func (im *importer) progress(s *source) {
	if im.bar == nil {
		return
	}
	im.bar.Set64(im.read + s.read)
	el := time.Since(im.start).Seconds()
	im.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s", im.rows, float64(im.rows)/max(el, 1e-3)))
}

// warn writes a diagnostic to stderr, above the progress bar.
func (im *importer) warn(format string, args ...any) {
	if im.bar != nil {
		im.bar.Clear()
	}
	fmt.Fprintf(im.stderr, format, args...)
}

// refuse reports a row the import does not write.
func (im *importer) refuse(fst *fileStats, line int, err error) {
	im.warn("%s:%d: %s (refused)\n", fst.name, line, cleanErr(err))
	fst.refused++
	im.refused++
	if im.o.abort {
		im.stopped = true
	}
}

// readBatch reads up to o.batch rows of s, skipping those before the
// file's -from-line. It stops early when the import is interrupted, and
// at a row that fails to parse with -on-error abort.
func (im *importer) readBatch(s *source, fst *fileStats) (rows []*row, eof bool, err error) {
	for len(rows) < im.o.batch {
		if im.interrupted() {
			return rows, false, nil
		}
		r, err := s.next()
		if err == io.EOF {
			return rows, true, nil
		}
		if err != nil {
			var se *stopError
			if errors.As(err, &se) {
				fst.stopped = fmt.Sprintf("line %d: %v", se.line, se.err)
			}
			return rows, false, err
		}
		if r.line < fst.fromLine {
			fst.before++
			continue
		}
		fst.rows++
		fst.lastLine = r.line
		im.rows++
		if im.bar != nil && im.rows%1000 == 0 {
			im.progress(s)
		}
		if r.err == nil && im.checkRow != nil {
			r.err = im.checkRow(&r)
		}
		rows = append(rows, &r)
		if r.err != nil && im.o.abort {
			return rows, false, nil
		}
	}
	return rows, false, nil
}

func (im *importer) importSource(s *source, fst *fileStats) error {
	im.checkRow = im.checkCustomerRow
	im.named, im.keyLines = nil, map[string]int{}
	if im.remote != nil {
		im.namedIDs = roaring.New()
		return im.importBatches(s, fst, im.writeBatchRemote)
	}
	return im.importBatches(s, fst, im.writeBatch)
}

// importBatches reads s in batches and writes each with write; after a
// batch is written every line through its last is settled (durable).
func (im *importer) importBatches(s *source, fst *fileStats, write func(*fileStats, []*row) error) error {
	for {
		rows, eof, err := im.readBatch(s, fst)
		if len(rows) > 0 {
			if werr := write(fst, rows); werr != nil {
				return fmt.Errorf("%s: %w", fst.name, werr)
			}
			fst.durable = rows[len(rows)-1].line
		}
		if err != nil {
			var se *stopError
			if errors.As(err, &se) {
				return fmt.Errorf("%s:%d: %s", fst.name, se.line, se.err)
			}
			return fmt.Errorf("%s: read error after line %d: %w", fst.name, fst.lastLine, err)
		}
		im.progress(s)
		if eof || im.interrupted() || im.stopped {
			return nil
		}
		if im.o.pause > 0 {
			select {
			case <-time.After(im.o.pause):
			case <-im.ctx.Done():
			}
		}
	}
}

// op is what a batch does to one customer: create it, or update it. Rows
// of the batch that name the same customer are merged into one op.
type op struct {
	rows []*row // the rows merged into it, in file order
	// The customer as stored (Old; nil for a new one) and as the rows
	// make it.
	api.ImportState
	keys  []string
	error error  // refused
	id    uint32 // the customer's dense ID, when hasID
	hasID bool
}

func (p *op) line() int { return p.rows[0].line }

// rowKeys are the keys a row names a customer by.
func rowKeys(c *tagseg.Customer) []string {
	var keys []string
	if c.UUID != "" {
		keys = append(keys, "u\x00"+c.UUID)
	}
	if c.ExternalID != "" {
		keys = append(keys, "e\x00"+c.DataSourceUUID+"\x00"+c.ExternalID)
	}
	return keys
}

// checkCustomerRow refuses a row the import must not write, before the
// index sees it (api.CheckImportRow).
func (im *importer) checkCustomerRow(r *row) error {
	ir := r.importRow()
	err := api.CheckImportRow(&ir, im.importOptions())
	r.c = ir.Customer
	return err
}

// importRow is the row as api.ImportRow.
func (r *row) importRow() api.ImportRow {
	return api.ImportRow{Customer: r.c, TagsGiven: r.tagsGiven, HasMRR: r.hasMRR, MRR: r.mrr, MRRAt: r.mrrAt}
}

// importOptions are the options api's import functions take.
func (im *importer) importOptions() api.ImportOptions {
	return api.ImportOptions{ReplaceTags: im.o.replaceTags, AllowUnkeyed: im.o.allowUnkeyed, MRRAt: im.o.mrrAt, MRRAtGiven: im.o.mrrAtGiven}
}

// merge applies row r to op p (api.ImportState.Merge).
func (im *importer) merge(p *op, r *row) {
	p.rows = append(p.rows, r)
	ir := r.importRow()
	p.Merge(&ir, im.importOptions())
}

// writeBatch writes one batch of rows.
func (im *importer) writeBatch(fst *fileStats, rows []*row) error {
	var ops []*op
	byKey := map[string]*op{}
	plan := func(tx *tagseg.Tx) error {
		for _, r := range rows {
			if r.err != nil {
				continue
			}
			keys := rowKeys(&r.c)
			var p *op
			for _, k := range keys {
				if q := byKey[k]; q != nil {
					if p != nil && p != q {
						r.err = fmt.Errorf("its uuid and external ID name two different customers of lines %d and %d: %w", p.line(), q.line(), tagseg.ErrDuplicate)
						break
					}
					p = q
				}
			}
			if r.err == nil && p != nil && r.c.UUID != "" && p.C.UUID != "" && r.c.UUID != p.C.UUID {
				r.err = fmt.Errorf("external ID %q of data source %q is customer %s (line %d), not %s: %w", r.c.ExternalID, r.c.DataSourceUUID, p.C.UUID, p.line(), r.c.UUID, tagseg.ErrDuplicate)
			}
			if r.err == nil && p != nil && !im.o.dupLast {
				r.err = duplicateRow(p.line(), p.C.UUID)
			}
			if r.err != nil {
				continue
			}
			if p == nil {
				var old *tagseg.Customer
				var err error
				if tx != nil {
					if old, err = api.LookupRow(tx, &r.c); err != nil {
						if !errors.Is(err, tagseg.ErrDuplicate) {
							return err
						}
						r.err = err
						continue
					}
				}
				if !im.o.dupLast {
					if l := im.namedLine(old, keys); l > 0 {
						uuid := ""
						if old != nil {
							uuid = old.UUID
						}
						r.err = duplicateRow(l, uuid)
						continue
					}
				}
				p = &op{}
				if old != nil {
					if p.ImportState, err = api.StateOf(tx, old); err != nil {
						return err
					}
					p.id, p.hasID = old.ID, true
					keys = append(keys, rowKeys(old)...)
				} else if im.o.dryRun && im.createdBefore(keys) {
					// A customer this dry run creates in an earlier batch.
					p.Old = &tagseg.Customer{UUID: r.c.UUID}
					p.C = r.c
					p.C.Tags = nil
				}
				ops = append(ops, p)
			}
			for _, k := range keys {
				byKey[k] = p
			}
			p.keys = append(p.keys, keys...)
			im.merge(p, r)
		}
		return nil
	}
	var err error
	if im.ix != nil {
		err = im.ix.View(plan)
	} else {
		err = plan(nil)
	}
	if err != nil {
		return err
	}
	var news, ups []*op
	for _, p := range ops {
		if p.Old == nil {
			news = append(news, p)
		} else if p.Changed() {
			ups = append(ups, p)
		}
	}
	if im.o.dryRun {
		err = im.dryRun(news, ups)
	} else {
		if err = im.load(news); err == nil {
			err = im.update(ups)
		}
	}
	if err != nil {
		return err
	}
	// Account for every row, in file order.
	for _, r := range rows {
		if r.err != nil {
			im.refuse(fst, r.line, r.err)
			continue
		}
	}
	for _, p := range ops {
		if p.error != nil {
			for _, r := range p.rows {
				im.refuse(fst, r.line, p.error)
			}
			continue
		}
		switch {
		case p.Old == nil:
			fst.created++
			fst.updated += len(p.rows) - 1
		case p.Changed():
			fst.updated += len(p.rows)
		default:
			fst.unchanged += len(p.rows)
		}
		if im.o.dryRun {
			for _, k := range p.keys {
				im.created[k] = true
				if _, ok := im.keyLines[k]; !ok {
					im.keyLines[k] = p.line()
				}
			}
		}
		if p.hasID && im.lineOf(p.id) == 0 {
			im.setLine(p.id, p.line())
		}
	}
	return nil
}

// duplicateRow is the refusal of a row naming the customer an earlier row
// of its file named (at line; uuid when known).
func duplicateRow(line int, uuid string) error {
	who := ""
	if uuid != "" {
		who = " (" + uuid + ")"
	}
	return fmt.Errorf("names the same customer as line %d%s: a file names each customer once (merge the two rows, or give -on-duplicate last to apply the later over the earlier): %w", line, who, tagseg.ErrDuplicate)
}

// namedLine is the line of the file being read that named the customer
// (old, as stored; nil when new) of a row with keys, or 0.
func (im *importer) namedLine(old *tagseg.Customer, keys []string) int {
	if old != nil {
		return im.lineOf(old.ID)
	}
	for _, k := range keys {
		if l := im.keyLines[k]; l > 0 {
			return l
		}
	}
	return 0
}

func (im *importer) lineOf(id uint32) int {
	if int(id) < len(im.named) {
		return int(im.named[id])
	}
	return 0
}

func (im *importer) setLine(id uint32, line int) {
	if int(id) >= len(im.named) {
		im.named = slices.Grow(im.named, int(id)+1-len(im.named))
		im.named = im.named[:cap(im.named)]
	}
	im.named[id] = int32(line)
}

func (im *importer) createdBefore(keys []string) bool {
	for _, k := range keys {
		if im.created[k] {
			return true
		}
	}
	return false
}

// load creates the new customers with Index.Load. A customer Load refuses
// is marked and Load is called again with the ones after the last commit.
func (im *importer) load(news []*op) error {
	for len(news) > 0 {
		var given []*op
		before, ierr := im.ix.Info()
		n, err := im.ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
			for _, p := range news {
				if p.error != nil {
					continue
				}
				given = append(given, p)
				if !yield(p.Customer(), p.Hist) {
					return
				}
			}
		})
		// Load gives the customers it creates the next IDs, in order:
		// the first n got before.NextID on (if no other write came
		// between, which Info tells).
		if after, aerr := im.ix.Info(); ierr == nil && aerr == nil && after.NextID == before.NextID+uint32(n) {
			for i, p := range given[:n] {
				p.id, p.hasID = before.NextID+uint32(i), true
			}
		}
		if err == nil {
			return nil
		}
		var le *tagseg.LoadError
		if !errors.As(err, &le) || le.Index < n || le.Index >= len(given) {
			return err
		}
		given[le.Index].error = le.Err
		// given[:n] landed; the rest (but the refused one) go again.
		idx := slices.Index(news, given[n])
		news = news[idx:]
		if n == le.Index {
			news = news[1:]
		}
	}
	return nil
}

// rowError is the error of one op inside an Update: the op is refused and
// the transaction done again without it.
type rowError struct {
	p   *op
	err error
}

func (e *rowError) Error() string { return e.err.Error() }

// update applies the updates in one Update transaction (again without an
// op the index refuses).
func (im *importer) update(ups []*op) error {
	for {
		err := im.ix.Update(func(tx *tagseg.Tx) error {
			for _, p := range ups {
				if p.error != nil {
					continue
				}
				if err := p.Update(tx); err != nil {
					return &rowError{p, err}
				}
			}
			return nil
		})
		var re *rowError
		if !errors.As(err, &re) {
			return err
		}
		re.p.error = re.err
	}
}

// errDryRun rolls back a dry run's scratch transaction.
var errDryRun = errors.New("dry run")

// dryRun checks the ops as the index would, on a scratch index thrown
// away: every new customer is created, every update's attributes, tags
// and MRR written to a copy of the customer.
func (im *importer) dryRun(news, ups []*op) error {
	dir, err := os.MkdirTemp("", "tagseg-dry-run")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scratch, err := tagseg.Open(dir+"/scratch.db", &tagseg.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer scratch.Close()
	for _, p := range slices.Concat(news, ups) {
		err := scratch.Update(func(tx *tagseg.Tx) error {
			c := p.Customer()
			c.UUID = ""
			got, err := tx.CreateCustomer(c)
			if err != nil {
				return err
			}
			for _, e := range p.Hist {
				if err := tx.SetMRR(got.UUID, e.At, e.Cents); err != nil {
					return err
				}
			}
			return errDryRun
		})
		if !errors.Is(err, errDryRun) {
			p.error = err
		}
	}
	return nil
}

// summary reports, file by file, what became of the rows.
func (im *importer) summary(events bool) {
	var landed, created, updated, unchanged, refused int
	if im.o.dryRun {
		fmt.Fprintln(im.stdout, "dry run: nothing was written; the figures say what an import would do")
	}
	for _, f := range im.files {
		fmt.Fprintf(im.stdout, "%s: %s read", f.name, plural(f.rows, "row", "rows"))
		if f.before > 0 {
			fmt.Fprintf(im.stdout, " (%s before line %d skipped)", count(f.before), f.fromLine)
		}
		if events {
			fmt.Fprintf(im.stdout, ": %s recorded, %s unchanged, %s refused", count(f.created), count(f.unchanged), count(f.refused))
		} else {
			fmt.Fprintf(im.stdout, ": %s created, %s updated, %s unchanged, %s refused", count(f.created), count(f.updated), count(f.unchanged), count(f.refused))
		}
		if f.stopped != "" {
			fmt.Fprintf(im.stdout, "; stopped at %s", f.stopped)
		}
		fmt.Fprintln(im.stdout)
		landed += f.created + f.updated + f.unchanged
		created += f.created
		updated += f.updated
		unchanged += f.unchanged
		refused += f.refused
	}
	for _, name := range im.pending {
		fmt.Fprintf(im.stdout, "%s: not read\n", name)
	}
	verb := "landed"
	if im.o.dryRun {
		verb = "would land"
	}
	if events {
		fmt.Fprintf(im.stdout, "total: %s %s (%s MRR events recorded, %s unchanged), %s refused\n", plural(landed, "row", "rows"), verb, count(created), count(unchanged), count(refused))
		return
	}
	fmt.Fprintf(im.stdout, "total: %s %s (%s customers created, %s rows updated, %s unchanged), %s refused\n", plural(landed, "row", "rows"), verb, count(created), count(updated), count(unchanged), count(refused))
}

// resumeHint names the last durable line of each file read and how to go on.
func (im *importer) resumeHint(files []string) {
	if len(im.files) == 0 {
		return
	}
	last := im.files[len(im.files)-1]
	for _, f := range im.files {
		if f.durable > 0 {
			fmt.Fprintf(im.stderr, "%s: every row through line %d is written (landed or refused)\n", f.name, f.durable)
		} else {
			fmt.Fprintf(im.stderr, "%s: nothing of it is written\n", f.name)
		}
	}
	if im.o.dryRun {
		return
	}
	rest := files[len(im.files)-1:]
	var b strings.Builder
	fmt.Fprintf(&b, "tagseg import -db %s", shellQuote(im.o.db))
	if last.durable > 0 {
		fmt.Fprintf(&b, " -from-line %d", last.durable+1)
	}
	for _, f := range rest {
		b.WriteString(" " + shellQuote(f))
	}
	fmt.Fprintf(im.stderr, "to resume: %s (with the same flags; importing the files again from the start is safe too: rows that landed are updated, not duplicated)\n", b.String())
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lockedHint explains ErrLocked: the file is held by another process,
// most likely tagseg serve. A command that can go through a server has
// done so when the serve note names one that answers, so this one cannot,
// or the server is not found.
func lockedHint(path string, err error) error {
	if !errors.Is(err, tagseg.ErrLocked) {
		return err
	}
	msg := fmt.Sprintf("%s is locked by another process", path)
	if note, ok := readServeNote(path); ok {
		msg += fmt.Sprintf(": tagseg serve (pid %d); a server for it runs at %s, which this command does not go through: stop it and run the command again", note.PID, note.URL)
	} else {
		msg += fmt.Sprintf(" (tagseg serve, or another command at work); wait for it or stop it, or, when it is tagseg serve and %s is not beside the index, name the server with -server URL (the commands that read or change customers, tags and segments take it)", serveNotePath(path))
	}
	return fmt.Errorf("%s: %w", msg, tagseg.ErrLocked)
}
