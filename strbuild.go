package tagseg

// Building the string indexes (strindex.go) and keeping them with the
// commits.
//
// A field's index is built on its first use after Open, from the customer
// records (one pass over them: seconds at 10M customers), on the latest
// snapshot, and stored in it. From then on each commit's snapshot gets the
// index edited with the commit's changes (state.derive), so it is built
// once per Open, not per snapshot. A build runs once at a time per field:
// other readers that need it wait for it, and the commits published while
// it runs are recorded (follow) and applied to it before it is stored, so
// a writer never waits for a build and a build is never lost to a commit.
// Load publishes a snapshot without the indexes (its customers are not in
// them): the next query on such a field builds again.
//
// The build takes the caller's context: a reader whose client went away
// gives it up, and the next reader that needs the field starts it again.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// maxSorted is how many fields may be indexed ixSorted (state.strx).
const maxSorted = 8

// sortedFields are the table's ixSorted fields; field.slot is the place
// of each in state.strx.
var sortedFields []*field

func init() {
	for _, f := range fields {
		if f.index == ixSorted {
			f.slot = len(sortedFields)
			sortedFields = append(sortedFields, f)
		}
	}
	if len(sortedFields) > maxSorted {
		panic("tagseg: more ixSorted fields than maxSorted")
	}
}

// sortedIndexes is the Index's side of the string indexes: the builds
// running and the commits published meanwhile.
type sortedIndexes struct {
	mu     sync.Mutex
	builds [maxSorted]*strBuild
	count  [maxSorted]int // builds done, for tests
}

// strBuild is a build in progress.
type strBuild struct {
	done    chan struct{}
	err     error
	pending []strCommit // commits published since the build began, in order
}

// strCommit is a commit seen while a build ran: from → to, with its
// changes to the field.
type strCommit struct {
	from, to *state
	chs      []strChange
}

// strChanges lists a batch's changes to field f: its string-index deltas
// (strKey), each ID added to or removed from a value.
func strChanges(deltas map[bmKey]*bmDelta, f *field) []strChange {
	var out []strChange
	prefix := f.name + "\x00"
	for k, d := range deltas {
		if k.kind != bkStr || len(k.name) < len(prefix) || k.name[:len(prefix)] != prefix {
			continue
		}
		v := k.name[len(prefix):]
		for id := range d.add.Iterate {
			out = append(out, strChange{v, id, true})
		}
		for id := range d.del.Iterate {
			out = append(out, strChange{v, id, false})
		}
	}
	return out
}

// deriveSorted gives ns, derived from st by a batch with deltas, st's
// string indexes edited with the batch's changes.
func (ns *state) deriveSorted(st *state, deltas map[bmKey]*bmDelta) {
	for _, f := range sortedFields {
		if x := st.strx[f.slot].Load(); x != nil {
			ns.strx[f.slot].Store(x.edit(strChanges(deltas, f)))
		}
	}
}

// follow is called by the writer after deriving ns from st, before it
// publishes ns: for each field whose index st lacks, a build in progress
// records the commit, and one that ended since derive is applied.
func (s *sortedIndexes) follow(st, ns *state, deltas map[bmKey]*bmDelta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range sortedFields {
		if ns.strx[f.slot].Load() != nil {
			continue
		}
		if x := st.strx[f.slot].Load(); x != nil { // stored since derive
			ns.strx[f.slot].Store(x.edit(strChanges(deltas, f)))
		} else if b := s.builds[f.slot]; b != nil {
			b.pending = append(b.pending, strCommit{st, ns, strChanges(deltas, f)})
		}
	}
}

// errStaleSnapshot: the snapshot is older than the index that was built.
var errStaleSnapshot = errors.New("snapshot older than the string index")

// sortedIndex returns field f's index on snapshot st, building it when
// needed. It fails with errStaleSnapshot when st is older than the build
// (a reader that began before it): the caller reads the records instead.
func (ix *Index) sortedIndex(ctx context.Context, st *state, f *field) (*strIndex, error) {
	s := &ix.sorted
	for {
		if x := st.strx[f.slot].Load(); x != nil {
			return x, nil
		}
		s.mu.Lock()
		if x := st.strx[f.slot].Load(); x != nil {
			s.mu.Unlock()
			return x, nil
		}
		if b := s.builds[f.slot]; b != nil {
			s.mu.Unlock()
			select {
			case <-b.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("tagseg: index of %s: %w", f.name, ctx.Err())
			}
			if b.err == nil && st.strx[f.slot].Load() == nil {
				return nil, errStaleSnapshot
			}
			continue // built, or given up by its reader: look again
		}
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("tagseg: index of %s: %w", f.name, err)
		}
		b := &strBuild{done: make(chan struct{})}
		s.builds[f.slot] = b
		s.mu.Unlock()

		bst, x, err := ix.buildSorted(ctx, f)
		s.mu.Lock()
		s.builds[f.slot] = nil
		if err == nil {
			s.count[f.slot]++
			bst.strx[f.slot].CompareAndSwap(nil, x)
			last := bst
			for _, c := range b.pending {
				if c.from != last {
					continue // before the build's snapshot, or after a Load
				}
				x = x.edit(c.chs)
				c.to.strx[f.slot].CompareAndSwap(nil, x)
				last = c.to
			}
		}
		b.err = err
		close(b.done)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if st.strx[f.slot].Load() == nil {
			return nil, errStaleSnapshot
		}
	}
}

// buildHook, when a test sets it, runs in each build once its snapshot is
// taken.
var buildHook func()

// buildSorted builds field f's index from the records of the latest
// commit, on every core: one goroutine reads the records in ID order, the
// others take the field's value out of each (checking its checksum), then
// the pairs are sorted and packed.
func (ix *Index) buildSorted(ctx context.Context, f *field) (bst *state, x *strIndex, err error) {
	err = ix.view(func(st *state, btx *bolt.Tx) error {
		bst = st
		if buildHook != nil {
			buildHook()
		}
		pairs, err := readPairs(ctx, btx, st, f, ix.path)
		if err != nil {
			return err
		}
		if sorted, ok := groupPairs(pairs); ok {
			pairs = sorted
		} else {
			sortPairs(pairs)
		}
		x = buildStrIndex(pairs) // copies the values out of the file's pages
		return nil
	})
	return bst, x, err
}

// readPairs returns the (value, ID) pair of field f of every live customer
// of st, in ID order. The values point into bbolt's pages: valid while btx
// is open.
func readPairs(ctx context.Context, btx *bolt.Tx, st *state, f *field, path string) ([]strPair, error) {
	type chunk struct {
		seq  int
		ids  []uint32
		vals [][]byte
	}
	const chunkSize = 4096
	workers := max(1, runtime.GOMAXPROCS(0))
	in := make(chan chunk, workers)
	var mu sync.Mutex
	var outs [][]strPair // by chunk
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range in {
				if errs[w] != nil {
					continue
				}
				out := make([]strPair, len(c.ids))
				for i, v := range c.vals {
					s, err := recordString(v, f)
					if err != nil {
						errs[w] = fmt.Errorf("tagseg: %s: customer %d: %v: %w", path, c.ids[i], err, ErrCorrupt)
						break
					}
					out[i] = strPair{key: prefixKey(s), val: s, id: c.ids[i]}
				}
				mu.Lock()
				for len(outs) <= c.seq {
					outs = append(outs, nil)
				}
				outs[c.seq] = out
				mu.Unlock()
			}
		})
	}
	live := st.live
	var rerr error
	cur := chunk{}
	cu := btx.Bucket(bktCust).Cursor()
	for k, v := cu.First(); k != nil; k, v = cu.Next() {
		if len(k) != 4 {
			rerr = fmt.Errorf("tagseg: %s: bad customer key %s: %w", path, clipKey(k), ErrCorrupt)
			break
		}
		id := binary.BigEndian.Uint32(k)
		if id >= st.nextID {
			break // added by a Load after st (see matching)
		}
		if !live.Contains(id) {
			continue
		}
		cur.ids, cur.vals = append(cur.ids, id), append(cur.vals, v)
		if len(cur.ids) == chunkSize {
			in <- cur
			cur = chunk{seq: cur.seq + 1, ids: make([]uint32, 0, chunkSize), vals: make([][]byte, 0, chunkSize)}
			if cur.seq%16 == 0 && ctx.Err() != nil {
				rerr = fmt.Errorf("tagseg: index of %s: %w", f.name, ctx.Err())
				break
			}
		}
	}
	if len(cur.ids) > 0 && rerr == nil {
		in <- cur
	}
	close(in)
	wg.Wait()
	if rerr != nil {
		return nil, rerr
	}
	total := 0
	for w := range workers {
		if errs[w] != nil {
			return nil, errs[w]
		}
	}
	for _, o := range outs {
		total += len(o)
	}
	pairs := make([]strPair, 0, total)
	for _, o := range outs {
		pairs = append(pairs, o...)
	}
	return pairs, nil
}

// prefixKey is the first 8 bytes of s as a big-endian number: comparing
// keys first orders most pairs without reading their strings.
func prefixKey(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

// groupPairs sorts pairs in ID order by value when few values repeat
// often (names, companies): one pass through a map of the distinct
// values, a sort of those, and a counting sort, which keeps each value's
// IDs in order. ok is false, and pairs untouched, when there are more
// than a sixteenth as many values as pairs.
func groupPairs(pairs []strPair) (sorted []strPair, ok bool) {
	limit := len(pairs)/16 + 1024
	group := map[string]int32{}
	gs := make([]int32, len(pairs))
	var vals []string
	for i := range pairs {
		g, seen := group[pairs[i].val]
		if !seen {
			if len(vals) == limit {
				return nil, false
			}
			g = int32(len(vals))
			group[pairs[i].val] = g
			vals = append(vals, pairs[i].val)
		}
		gs[i] = g
	}
	order := make([]int32, len(vals))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(vals[a], vals[b]) })
	start := make([]int, len(vals)+1) // by rank
	rank := make([]int32, len(vals))
	for r, g := range order {
		rank[g] = int32(r)
	}
	for _, g := range gs {
		start[rank[g]+1]++
	}
	for r := 1; r < len(start); r++ {
		start[r] += start[r-1]
	}
	sorted = make([]strPair, len(pairs))
	for i, g := range gs {
		r := rank[g]
		sorted[start[r]] = pairs[i]
		start[r]++
	}
	return sorted, true
}

// recordString is the value of string field f in a stored record (sealed),
// as the index holds it (lower case for email), without decoding the rest.
// The string points into v unless it was lower-cased.
func recordString(v []byte, f *field) (string, error) {
	b, err := openVal(v)
	if err != nil {
		return "", err
	}
	d := &decoder{b: b}
	d.head() // the version (and journal position) every record starts with
	var s []byte
	for i := 0; i <= f.rec && d.err == nil; i++ { // the UUID, then the string fields up to f
		n := d.uvarint("string")
		if n > uint64(len(d.b)) {
			d.fail("string")
			break
		}
		s, d.b = d.b[:n], d.b[n:]
	}
	if d.err != nil {
		return "", d.err
	}
	str := unsafe.String(unsafe.SliceData(s), len(s))
	if f.lower {
		str = lower(str)
	}
	return str, nil
}

// sortPairs sorts pairs by cmpPair, a part per core, then merges.
func sortPairs(pairs []strPair) {
	parts := max(1, min(runtime.GOMAXPROCS(0), len(pairs)/65536))
	bounds := make([]int, parts+1)
	for i := range bounds {
		bounds[i] = i * len(pairs) / parts
	}
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() { slices.SortFunc(pairs[bounds[i]:bounds[i+1]], cmpPair) })
	}
	wg.Wait()
	if parts == 1 {
		return
	}
	buf := make([]strPair, len(pairs))
	src, dst := pairs, buf
	for width := 1; width < parts; width *= 2 {
		for i := 0; i < parts; i += 2 * width {
			lo, mid, hi := bounds[i], bounds[min(i+width, parts)], bounds[min(i+2*width, parts)]
			mergePairs(dst[lo:hi], src[lo:mid], src[mid:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &pairs[0] {
		copy(pairs, src)
	}
}

func mergePairs(dst, a, b []strPair) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if cmpPair(b[j], a[i]) < 0 {
			dst[k] = b[j]
			j++
		} else {
			dst[k] = a[i]
			i++
		}
		k++
	}
	k += copy(dst[k:], a[i:])
	copy(dst[k:], b[j:])
}

// ---- evaluation ----

// sortedCompare is "f op s" (any operator but NotEq) or, with prefix, the
// values of f starting with s, through the string index.
func (ev *evaluator) sortedCompare(f *field, r strRange) (val, bool, error) {
	x, err := ev.sortedIndexOf(f)
	if errors.Is(err, errStaleSnapshot) {
		return val{}, false, nil
	}
	if err != nil {
		return val{}, false, err
	}
	out := x.ids(r)
	out.And(ev.live().bm)
	return val{out, true}, true, nil
}

// sortedIndexOf is field f's index as the evaluation sees it: the
// snapshot's, or inside a write batch the committed snapshot's edited
// with the batch's own changes.
func (ev *evaluator) sortedIndexOf(f *field) (*strIndex, error) {
	st, batch := ev.st, (*Tx)(nil)
	if st.batch != nil { // a batch's view (Tx.snapshot)
		if x := st.strx[f.slot].Load(); x != nil {
			return x, nil // derived from the committed one
		}
		st, batch = st.batch.st, st.batch
	}
	ctx := ev.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	x, err := ev.ix.sortedIndex(ctx, st, f)
	if err != nil || batch == nil {
		return x, err
	}
	return x.edit(strChanges(batch.deltas, f)), nil
}

// strKeys names the string-index deltas of a customer's values of the
// sorted fields: kept in Tx.deltas beside the bitmaps', so that a batch's
// changes to them are known (state.derive, the touched IDs), but never
// stored and with no bitmap in the snapshot (see Tx.set).
func strKeys(c *Customer) []bmKey {
	keys := make([]bmKey, len(sortedFields))
	for i, f := range sortedFields {
		keys[i] = bmKey{bkStr, f.name + "\x00" + f.strValue(c)}
	}
	return keys
}
