package tagseg

// Check: the file against itself and against memory. It reads everything,
// so it is for tests, tools and suspicion, not for every Open.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// Check verifies the index file against itself and against memory: bbolt's
// own page check, every customer record decodes, the UUID, external-ID and
// email entries point at the right records, every bitmap (live, tags,
// equality fields) equals what the records say, and every current MRR is
// the value of the customer's latest event. It reads the whole file, so it
// takes time proportional to its size, and holds off writers meanwhile
// (bbolt's page check and the reload below need the file to stand still).
// A problem gives an error wrapping ErrCorrupt.
func (ix *Index) Check() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	err := ix.view(func(st *state, btx *bolt.Tx) error {
		corrupt := func(format string, args ...any) error {
			return fmt.Errorf("tagseg: check %s: %s: %w", ix.path, fmt.Sprintf(format, args...), ErrCorrupt)
		}
		// bbolt's page check trusts the page structure: check that first.
		if err := checkFile(ix.path, btx); err != nil {
			return corrupt("%v", err)
		}
		if err := checkPages(ix.path, btx); err != nil {
			return corrupt("%v", err)
		}
		if err := checkMetas(ix.path, btx); err != nil {
			return corrupt("%v", err)
		}
		// Drain the channel: bbolt's check goroutine uses btx until it
		// closes it, and must not outlive the transaction.
		var bad error
		for err := range btx.Check() {
			if bad == nil {
				bad = err
			}
		}
		if bad != nil {
			return corrupt("bbolt: %v", bad)
		}
		want := newState()
		want.nextID = st.nextID
		wantMRR := want.mrr.edit()
		wantMRR.grow(st.nextID)
		setBit := func(k bmKey, id uint32) {
			b := want.get(k)
			if b == nil {
				b = roaring.New()
			}
			b.Add(id)
			want.set(k, b)
		}
		nrec := 0
		err := btx.Bucket(bktCust).ForEach(func(k, v []byte) error {
			if len(k) != 4 {
				return corrupt("bad customer key %s", clipKey(k))
			}
			id := binary.BigEndian.Uint32(k)
			if id >= st.nextID {
				return corrupt("customer %d beyond next ID %d", id, st.nextID)
			}
			r, err := openRecord(id, v)
			if err != nil {
				return corrupt("customer %d: %v", id, err)
			}
			if r.seq > st.jseq {
				return corrupt("customer %d: journal position %d past the newest %d", id, r.seq, st.jseq)
			}
			st.journal.fold(r) // its tags as readers see them
			nrec++
			if u := btx.Bucket(bktUUID).Get([]byte(r.c.UUID)); !bytes.Equal(u, idVal(id)) {
				return corrupt("customer %d: UUID %s points at %s", id, truncate(r.c.UUID), clipKey(u))
			}
			if r.c.ExternalID != "" {
				if u := extGet(btx, extKey(r.c.DataSourceUUID, r.c.ExternalID), st.nextID); !bytes.Equal(u, idVal(id)) {
					return corrupt("customer %d: external ID entry points at %s", id, clipKey(u))
				}
			}
			if got, want := [numCols]int64{st.cols[colEmail].at(id), st.cols[colLead].at(id), st.cols[colTrial].at(id)}, colValues(&r.c); got != want {
				return corrupt("customer %d: columns %v, record says %v", id, got, want)
			}
			if want := emailHash(r.c.Email); want != 0 && !slices.Contains(ix.emails.ids(st, want), id) {
				return corrupt("customer %d: email %q not in the email table", id, truncate(r.c.Email))
			}
			setBit(bmKey{bkLive, ""}, id)
			for _, t := range r.c.Tags {
				setBit(bmKey{bkTag, t}, id)
			}
			for _, k := range eqKeys(&r.c) {
				setBit(k, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = btx.Bucket(bktSeg).ForEach(func(k, v []byte) error {
			q, err := openVal(v)
			if err != nil {
				return corrupt("saved segment %q: %v", truncate(string(k)), err)
			}
			if _, err := Parse(string(q)); err != nil {
				return corrupt("saved segment %q: %v", truncate(string(k)), err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := ix.checkWatch(btx, corrupt); err != nil {
			return err
		}
		if n := btx.Bucket(bktUUID).Stats().KeyN; n != nrec {
			return corrupt("%d UUID entries for %d customers", n, nrec)
		}
		// MRR histories belong to live customers; memory agrees with them.
		err = btx.Bucket(bktEv).ForEach(func(k, v []byte) error {
			if len(k) != 4 {
				return corrupt("bad MRR history key %s", clipKey(k))
			}
			lo := uint64(binary.BigEndian.Uint32(k)) * histBlock
			if lo >= uint64(st.nextID) {
				return corrupt("MRR history block %x beyond next ID", k)
			}
			hs := make([][]mrrEvent, min(histBlock, uint64(st.nextID)-lo))
			v, err := openVal(v)
			if err != nil {
				return corrupt("MRR history block %x: %v", k, err)
			}
			if err := decodeHistBlock(v, hs); err != nil {
				return corrupt("MRR history block %x: %v", k, err)
			}
			for i, h := range hs {
				id := uint32(lo) + uint32(i)
				if len(h) > 0 && !want.live.Contains(id) {
					return corrupt("MRR history of missing customer %d", id)
				}
				wantMRR.set(id, current(h))
				if !slices.Equal(h, st.hist.at(id)) {
					return corrupt("customer %d: MRR history in memory differs from the file", id)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !want.live.Equals(st.live) {
			return corrupt("live bitmap: %d stored, %d customers", st.live.GetCardinality(), want.live.GetCardinality())
		}
		if want.tags.len() != st.tags.len() {
			return corrupt("%d tags in memory, %d in records", st.tags.len(), want.tags.len())
		}
		for t, b := range want.tags.all() {
			if !b.Equals(st.get(bmKey{bkTag, t})) {
				return corrupt("tag %q bitmap disagrees with records", truncate(t))
			}
		}
		for f := range allFields(want, st) {
			if want.eq[f].len() != st.eq[f].len() {
				return corrupt("field %s: %d values in memory, %d in records", f, st.eq[f].len(), want.eq[f].len())
			}
			for v, b := range want.eq[f].all() {
				if !b.Equals(st.get(eqKey(f, v))) {
					return corrupt("field %s value %q bitmap disagrees with records", truncate(f), truncate(v))
				}
			}
		}
		want.mrr = wantMRR.done()
		for id := range st.nextID {
			if v := want.mrr.at(id); st.mrr.at(id) != v {
				return corrupt("customer %d: MRR %d in memory, latest event %d", id, st.mrr.at(id), v)
			}
		}
		want.rebuildPlanes()
		if len(want.planes) > len(st.planes) {
			return corrupt("%d MRR planes in memory, %d needed", len(st.planes), len(want.planes))
		}
		for i, p := range st.planes {
			w := roaring.New()
			if i < len(want.planes) {
				w = want.planes[i]
			}
			if !w.Equals(p) {
				return corrupt("MRR plane %d disagrees with the column", i)
			}
		}
		if !want.paying.Equals(st.paying) {
			return corrupt("paying bitmap disagrees with the column")
		}
		return nil
	})
	if err != nil {
		return err
	}
	// What is stored must load back to what is in memory.
	return ix.read(func(st *state) error {
		disk, _, err := readState(ix.db, ix.path)
		if err != nil {
			return err
		}
		if msg := diffStates(disk, st); msg != "" {
			return fmt.Errorf("tagseg: check %s: stored bitmaps differ from memory: %s: %w", ix.path, msg, ErrCorrupt)
		}
		return nil
	})
}

// allFields yields the equality fields of both states.
func allFields(a, b *state) iter.Seq[string] {
	return func(yield func(string) bool) {
		for f := range a.eq {
			if !yield(f) {
				return
			}
		}
		for f := range b.eq {
			if _, ok := a.eq[f]; !ok && !yield(f) {
				return
			}
		}
	}
}

// diffStates describes the first difference between two states, or "".
func diffStates(a, b *state) string {
	if a.nextID != b.nextID {
		return fmt.Sprintf("next ID %d vs %d", a.nextID, b.nextID)
	}
	if !a.live.Equals(b.live) {
		return "live"
	}
	if a.tags.len() != b.tags.len() {
		return fmt.Sprintf("%d vs %d tags", a.tags.len(), b.tags.len())
	}
	for t, bm := range a.tags.all() {
		if !bm.Equals(b.get(bmKey{bkTag, t})) {
			return fmt.Sprintf("tag %q", t)
		}
	}
	for f := range allFields(a, b) {
		if a.eq[f].len() != b.eq[f].len() {
			return "field " + f
		}
		for v, bm := range a.eq[f].all() {
			if !bm.Equals(b.get(eqKey(f, v))) {
				return fmt.Sprintf("field %s value %q", f, v)
			}
		}
	}
	for id := range a.nextID {
		if a.mrr.at(id) != b.mrr.at(id) {
			return fmt.Sprintf("MRR of customer %d", id)
		}
		for col := range numCols {
			if a.cols[col].at(id) != b.cols[col].at(id) {
				return fmt.Sprintf("column %d of customer %d", col, id)
			}
		}
		if !slices.Equal(a.hist.at(id), b.hist.at(id)) {
			return fmt.Sprintf("MRR history of customer %d", id)
		}
	}
	for i := range max(len(a.planes), len(b.planes)) {
		if !plane(a.planes, i).Equals(plane(b.planes, i)) {
			return fmt.Sprintf("MRR plane %d", i)
		}
	}
	if !a.paying.Equals(b.paying) {
		return "paying"
	}
	return ""
}

// plane is MRR bit plane i, empty past the last.
func plane(planes []*roaring.Bitmap, i int) *roaring.Bitmap {
	if i < len(planes) {
		return planes[i]
	}
	return roaring.New()
}
