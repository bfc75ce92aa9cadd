// Package tagseg keeps customers, their tags and their MRR in one file and
// answers segment questions over millions of customers in about a
// millisecond: "how many customers are tagged churn-risk-high AND plan-pro
// but NOT managed-account, and what MRR do they carry, month by month?"
//
// # Opening an index
//
// An Index lives in one bbolt file. Open creates it when missing and loads
// what queries need into memory; Close releases it:
//
//	ix, err := tagseg.Open("customers.db", nil)
//	if err != nil { ... }
//	defer ix.Close()
//
// Every write method is one durable transaction: when it returns nil the
// change is on disk (fsync) and survives a crash. Update groups writes into
// one transaction, all or nothing; the Tx's reads see the batch's own
// writes:
//
//	err := ix.Update(func(tx *tagseg.Tx) error {
//		if _, err := tx.AddTags(uuid, "beta"); err != nil {
//			return err // nothing of the batch is kept
//		}
//		return tx.SetMRR(uuid, time.Now(), 4900)
//	})
//
// A batch that changes nothing commits nothing.
//
// # When a commit fails
//
// What happens after a failed commit depends on what reached the file,
// which the index reads back from bbolt at once:
//
//   - Nothing reached it (the file system is full, the file size limit is
//     reached, a write of the batch's pages failed; bbolt still serves the
//     commit before): the error wraps ErrIO, the write changed nothing,
//     and the index goes on. Reads never stop; the next write is tried as
//     usual and succeeds once space is freed. A write that returned nil is
//     durable, whatever failed before or after it.
//   - The commit's meta page reached the file, but its sync failed: the
//     file serves the batch, so readers see it (memory follows the file),
//     while the caller gets an error wrapping ErrCorrupt that names the
//     cause. Whether the batch survives a crash is unknown, so the index
//     refuses writes until it is reopened, which gives the file's truth;
//     read it before retrying the batch.
//
// This refines the design's rule that a failed commit stops writes until
// reopen: when nothing reached the file, reopening would give exactly the
// state in memory, and refusing writes would only turn a full disk into a
// restart. Load's finishing commits (small tags, external IDs) are the
// exception: if one fails, the rest of that work is left to Open, so
// writes are refused until the index is reopened.
//
// # Loading in bulk
//
// Load creates customers from an iterator, each with its MRR history, far
// faster than CreateCustomer calls: it commits one durable transaction per
// 2^16 customers, writing every key of a batch once and in order, and
// builds the in-memory side privately, published when it returns:
//
//	n, err := ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
//		for _, row := range rows {
//			if !yield(row.Customer, row.MRR) {
//				return
//			}
//		}
//	})
//
// A bad or duplicate customer stops it with a *LoadError naming its index
// in the input; its batch is rolled back, the batches before it stay, and
// n says how many landed, so the caller can resume with the rest. A crash
// keeps the committed batches too: the next Open completes what Load
// leaves to its end (external-ID entries, small tags) from their records.
//
// # Readers and snapshots
//
// Readers never wait: not for the writer, not for each other. The memory
// side of the index is an immutable snapshot, replaced after each commit
// by one that shares everything the commit did not change (see state.go);
// a read takes the current snapshot with one atomic load and keeps it to
// its end, however long, while writes go on. View runs several reads on one
// snapshot:
//
//	err := ix.View(func(tx *tagseg.Tx) error {
//		seg, err := tx.Segment(e)  // these three reads see
//		stats, err := tx.TagStats(e, tagseg.TagStatsOptions{Limit: 10}) // one commit,
//		pts, err := tx.Series(e, from, to, tagseg.Month) // whatever writers do
//		...
//	})
//
// The writer never waits for readers either. Any number of goroutines may
// use one Index. The package starts no goroutine that outlives a call.
//
// # Answers kept across commits
//
// A dashboard asks the same few questions again and again. The index keeps
// the answers of recently asked segments — members, count, paying count,
// MRR, each Series asked, each TagStats ranking (every tag, so any limit,
// order or narrower prefix is answered from it) — and a write does not
// throw them away: each commit records which customers it touched, and the
// next read of a kept answer brings it forward by those customers' old and
// new shares only (answers.go). The result is exact, the same as a fresh
// evaluation of the same snapshot, and valid for that snapshot alone: a
// reader on an older snapshot gets its own snapshot's answer. A repeated
// Segment, Series or TagStats costs microseconds, also while writes go on;
// a commit that touched many of a segment's members (a bulk change, a Load)
// makes the next read compute the parts that would cost more to bring
// forward. Options.CacheBytes bounds the memory (DefaultCacheBytes; least
// recently used out first, saved segments' queries last; negative: none),
// and Index.CacheStats reports hits, misses and the memory held.
//
// # Customers and tags
//
// A Customer has a UUID ("cus_" + a random UUID when not given), a dense
// uint32 ID assigned in order and never reused, the usual CRM fields, typed
// custom attributes and tags. Tags are exact, case-sensitive strings,
// trimmed of surrounding white space and put in Unicode Normalization Form
// C, so that "é" typed precomposed or as "e" + a combining accent is one
// tag; empty, longer than 255 bytes, not UTF-8 or holding a control
// character (tab, newline, ...) is ErrInvalidTag. CheckTag says what the
// index makes of a name. There are three ways to tag — at create,
// AddTags by UUID, AddTagsByEmail for every customer with an email — and
// RemoveTags to untag; AddTagsToSegment and RemoveTagsFromSegment change
// a whole segment at once. Adding a tag a customer has, or removing one it
// lacks, is a no-op; a call that returns an error changes nothing.
//
// # Bulk tag writes
//
// A customer's tags are kept twice: in its record, in the order first
// added (Customer.Tags), and in one bitmap per tag (what queries read).
// The design is silent on whether a write on a whole segment must rewrite
// every member's record; at 10M customers a tag on 1M of them rewrote
// some 3 GB of record pages. The copy in the record is kept — it alone
// holds the order, it gives a customer's tags without a tag index,
// Load's crash recovery completes small tags from it, and Check compares
// every bitmap against it — but bulk writes (AddTagsToSegment,
// RemoveTagsFromSegment, SetTagMembers, so rename and delete of a tag)
// update it lazily: they change the tag's bitmap and append one entry to
// a tag journal (the tag, add or remove, the customers it changed), and
// write no record. Reading a customer applies the entries newer than its
// record that name it, in order, which gives exactly the tags a rewrite
// would have stored; any write of that customer folds them into its
// record. The journal is bounded (1,024 entries, and as many customer IDs
// as there are customers): the commit that passes the bound folds the
// oldest entries into the records they name and drops them, the deferred
// rewrite. So a bulk write costs what it changes in bitmaps (at 10M, a
// tag on 1M customers in about a second), and a customer read costs one
// bitmap lookup per entry (journal.go).
//
// # Segments
//
// Expressions are built from Tag, AnyTag, AllTags, And, Or, Not, All and
// Where, or parsed from text with Parse:
//
//	e := tagseg.And(
//		tagseg.Tag("churn-risk-high"),
//		tagseg.Not(tagseg.Tag("managed-account")),
//		tagseg.Where("mrr", tagseg.Gte, 10_000),
//	)
//	// or: tagseg.Parse(`tag:churn-risk-high AND NOT tag:managed-account AND mrr >= 10000`)
//	seg, err := ix.Segment(e)
//	fmt.Println(seg.Count(), seg.MRR(), seg.ARPA())
//
// Segment.Customers yields the members' records in dense-ID order, and
// CustomersFrom(id) from a cursor, at the cost of the page read wherever it
// starts; ReadCustomers is the same with read errors reported (a damaged
// record, the index closed), for servers that must not answer a short
// page.
//
// NOT x means every live customer not in x. An unknown tag is an empty set
// (Segment.UnknownTags lists them); an unknown field is ErrInvalidField.
// Fields lists the fields, from the one table (field.go) that the parser,
// the evaluator, the record codec and the write path all read. Field
// comparisons: country, state, city, zip, data_source and every
// custom.KEY value are in-memory bitmaps per value; email = and != go
// through an in-memory hash table (case-insensitive, built on the first
// email lookup after Open) checked against the records; external_id = and
// != look up the stored external-ID entries, one per data source;
// lead_created_at and free_trial_started_at are in-memory columns; mrr and
// arr (cents) are compared on the MRR bit planes. name, company, email and
// external_id (every operator, and prefixes) go through the string index:
// per field, the sorted distinct values with their customers, in a tree
// whose nodes keep the union of their customers, so any range is a union of
// a few dozen bitmaps, a few milliseconds at 10M customers. A field's index
// is built by the first comparison that needs it after Open, from the
// records, once (seconds at 10M customers: Tx.SegmentContext gives it up
// when the caller's context ends), and then follows every commit; Load
// drops it, to be built again. It costs memory per distinct value (at 10M
// customers with unique emails, some 370 MB for email). Prefixes of the
// other text fields and of custom attributes go through their values'
// bitmaps, tag prefixes through the list of tags. Relative dates (now-30d)
// resolve against the day of Options.Clock, UTC; Expr.ResolveDates fixes
// them to a given day (for a query applied later or on another replica).
// A customer without a date or custom attribute matches only "!=". Strings compare by bytes. A custom
// attribute compares with values of its own type; integers and floats
// compare numerically with each other; a string that reads as an RFC 3339
// time also matches stored times.
//
// # MRR
//
// SetMRR(uuid, at, cents) records that from the instant at the customer's
// MRR is cents. The current MRR (Customer.MRR, the query field mrr) is the
// value of the latest event by time; an event at the same instant as an
// earlier one replaces it. cents runs from 0 to 2^40-1 (some eleven billion
// a month), so that ARR and the sums over segments stay exact. Series turns the events of a segment's members
// into MRR, paying customers, ARPA, ARR and the five MRR movements — new
// business, expansion, contraction, churn and reactivation — per day, ISO
// week, month, quarter or year, with the customers gained, reactivated and
// churned, and ChartMogul's customer churn rate, net MRR churn rate and
// LTV (ARPA / customer churn rate). Membership is today's: the filter
// picks the customers and the history is theirs, as in ChartMogul.
//
// TagStats reports, for every tag held in a segment, its customers and
// their MRR, sorted by MRR: the "rank feature requests by MRR" report.
//
// # Watched segments
//
// A saved segment (SaveSegment) records who entered and who left it at
// every commit that changed its members, in the same transaction as the
// commit: a write that returned nil has its changes recorded, and a crash
// loses none and invents none. Saving the segment records its members then
// as its first change; saving another query under its name records the
// difference as one change; deleting a customer makes it leave; Load,
// bulk changes and Update batches give one change per commit like any
// other write. The writer finds a change from what the commit touched: the
// segment's members among those customers before and after, at a cost that
// follows the commit's size, not the segment's (and a commit that changes
// no tag or field a segment's query names skips it).
//
// A query with a relative date (lead_created_at > now-30d) changes its
// members as the days pass, with no write. Its log stores the day (UTC,
// by Options.Clock) its members were last recorded on, and the first
// commit of another day records, as its one change for the segment, the
// difference between the whole segment on that day before the commit and
// on the new day after it: the customers that drifted in or out and those
// the commit moved, one full evaluation per such segment per day. Nothing
// runs between commits: the days that pass with no commit record nothing,
// and their drift is recorded by the next commit, stamped with its time.
// So the changes are always the differences of the segment evaluated at
// each commit, on that commit's day.
//
// Changes reads them after a cursor, oldest first; a reader keeps the
// cursor of the last change it handled and passes it back, across
// restarts of either side:
//
//	page, err := ix.Changes("churn-risk", tagseg.ChangesOptions{After: cursor, Wait: 30 * time.Second})
//	for _, c := range page.Changes {
//		fmt.Println(c.At, "entered:", c.Entered, "left:", c.Left) // UUIDs
//	}
//	cursor = page.Cursor
//
// With Wait, a reader that is up to date waits for the next commit that
// changes the segment (no goroutine is left behind: the call returns when
// a change comes, the time is up or its context is done). Changes are kept
// per segment up to Options.KeepChanges (10,000) and KeepChangesFor (30
// days), dropped by later commits; a cursor older than what is kept gives
// ErrExpired, a malformed one or one of another segment ErrInvalid. A
// customer deleted since a change is still named in it, as it was.
//
// # How it works
//
// Each tag is a Roaring bitmap over dense IDs; a segment is evaluated in
// place on one private copy, starting from the smallest operand. Current
// MRR is held as bit planes (a bit-sliced index), so the MRR of any set is
// a weighted sum of AndCardinality calls. MRR histories are packed in
// memory, one array per 4,096 customers; a series is one pass over the
// members' histories. TagStats walks the members' tag lists (a forward
// index of about 4 bytes per assignment, built by the first TagStats and
// kept up to date by small writes), so its cost follows the members'
// assignments, not the number of tags; over a large segment the most
// common tags are counted on their bitmaps and the MRR planes instead. On disk, bitmaps are stored in chunks of 2^16 IDs
// (one container per key), so tagging one customer rewrites a few hundred
// bytes whatever the size of the tag; a tag of at most 512 customers (most
// tags) is stored whole, in one value of a few kilobytes at most, which
// makes Open read a fifth of the keys. Open copies the stored containers
// into large aligned blocks and uses them in place. Customer records stay
// on disk. Index.Check verifies a file against itself and against memory.
//
// The storage code is layered as bbolt's page, node and free list are,
// each layer calling only down: layout.go (buckets, key formats,
// checksums) under the codecs (record.go, column.go, history.go,
// chunk.go), under open.go and recover.go, which read the file into plain
// data (blocks.go) and complete what a crash left; state.go makes the
// snapshots from that, and the write path (tx.go, load.go) writes through
// the codecs.
// Backup writes a consistent copy of the file while reads and writes go
// on; to restore, open the copy, or put it in place of an index's file
// with Restore (verified as Open reads it, atomic).
//
// # Replicas
//
// A host that replicates the index by applying one log of commands on
// every copy (tagseg serve on Raft) commits the number of the last entry
// it applied in the same transaction as the entry's writes
// (Tx.SetApplied), and after a restart reads it back (Index.Applied) to
// skip what the file already holds: no entry is lost or applied twice.
//
// # Sets of IDs for other engines
//
// Segment.WriteTo writes a segment's dense IDs in the portable Roaring
// format, which CRoaring, Java's RoaringBitmap and pg_roaringbitmap read;
// ReadIDs reads such a bitmap back, checked (ErrInvalid for anything else,
// never a panic); SetTagMembers makes a set of IDs exactly a tag's holders,
// and an ID that names no live customer changes nothing (ErrNotFound).
//
// # Errors
//
// Every error wraps one of the sentinel errors (ErrNotFound, ErrDuplicate,
// ErrInvalidTag, ErrInvalidField, ErrClosed, ErrReadOnly, ErrCorrupt,
// ErrVersion, ErrLocked, ErrInvalid, ErrExpired) and names what it is about; test with
// errors.Is. A file that is not a tagseg index, or is damaged, gives
// ErrCorrupt, never a panic or an empty index.
//
// # Damaged files
//
// Every stored value but the format version carries a CRC-32C, checked
// where the value is read: a damaged record, MRR history, column block or
// bitmap chunk is ErrCorrupt, never data. Open checks what it can cheaply:
// both meta pages (one damaged gives ErrCorrupt, since bbolt would open
// the commit before it and a write could be lost without a word;
// Options.AcceptLostCommit opens it anyway and repairs it), that the file
// is as long as its pages, the free list, the root bucket's page, the
// format version, every bitmap chunk, column block and MRR history it
// loads, and the next ID against the columns. A damaged page it does not
// read (customer records, UUIDs, saved segments) is found by the read that
// meets it (ErrCorrupt), or by Check, which reads the whole file: the page
// tree, bbolt's own check, every record against every bitmap, column and
// table in memory. A file of format 1 gives ErrVersion. One kind of damage
// is fatal rather than an error: a
// page tree made cyclic (a branch page pointing at its own ancestor) makes
// bbolt recurse without end, a stack overflow no recover can catch, when a
// read meets it before Check does.
//
// Open of an empty file for writing makes a new index, as for a missing
// file; read-only, it gives ErrCorrupt.
package tagseg
