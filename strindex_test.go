package tagseg

import (
	stdcmp "cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
)

// strModel is the string index's model: each ID's value.
type strModel map[uint32]string

func (m strModel) ids(keep func(string) bool) []uint32 {
	var out []uint32
	for id, v := range m {
		if keep(v) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// randStrValue draws from a pool with shared prefixes, the empty string,
// bytes above 0x7f and 0xff, so that ranges and prefixes meet edge cases.
func randStrValue(r *rand.Rand, distinct int) string {
	switch r.IntN(20) {
	case 0:
		return ""
	case 1:
		return "\xff\xff"
	case 2:
		return "é" + fmt.Sprint(r.IntN(5))
	}
	return fmt.Sprintf("v%d", r.IntN(distinct))
}

// batchChanges turns one batch's value changes (id → new value, "\x01" for
// a delete) into strChanges the way Tx records them: each change of a
// value first unsets the old key, then sets the new one, unconditionally.
func batchChanges(m strModel, batch []struct {
	id  uint32
	val string
}) []strChange {
	type delta struct{ add, del map[uint32]bool }
	ds := map[string]*delta{}
	get := func(v string) *delta {
		if ds[v] == nil {
			ds[v] = &delta{map[uint32]bool{}, map[uint32]bool{}}
		}
		return ds[v]
	}
	for _, b := range batch {
		if old, ok := m[b.id]; ok {
			d := get(old)
			delete(d.add, b.id)
			d.del[b.id] = true
		}
		if b.val == "\x01" {
			delete(m, b.id)
			continue
		}
		d := get(b.val)
		delete(d.del, b.id)
		d.add[b.id] = true
		m[b.id] = b.val
	}
	var chs []strChange
	for v, d := range ds {
		for id := range d.add {
			chs = append(chs, strChange{v, id, true})
		}
		for id := range d.del {
			chs = append(chs, strChange{v, id, false})
		}
	}
	return chs
}

func checkStrIndex(t *testing.T, x *strIndex, m strModel, r *rand.Rand, where string) {
	t.Helper()
	probe := func(rg strRange, keep func(string) bool, what string) {
		got := x.ids(rg).ToArray()
		want := m.ids(keep)
		if d := cmp.Diff(want, got, cmpEmptySlices); d != "" {
			t.Fatalf("%s: %s (-model +index):\n%s", where, what, d)
		}
	}
	for range 30 {
		s := randStrValue(r, 300)
		if r.IntN(4) == 0 && len(s) > 1 {
			s = s[:r.IntN(len(s))]
		}
		for op := Eq; op <= Lte; op++ {
			if op == NotEq {
				continue
			}
			probe(opRange(op, s), func(v string) bool { return cmpOp(v, op, s) }, fmt.Sprintf("value %s %q", op, s))
		}
		probe(prefixRange(s), func(v string) bool { return strings.HasPrefix(v, s) }, fmt.Sprintf("prefix %q", s))
	}
	// Every node's union and count agree with its values.
	if x.root != nil {
		checkNode(t, x.root, "", "", false, where)
	}
}

var cmpEmptySlices = cmp.Comparer(func(a, b []uint32) bool { return slices.Equal(a, b) })

func checkNode(t *testing.T, n *snode, lo, hi string, hasHi bool, where string) *roaring.Bitmap {
	t.Helper()
	all := roaring.New()
	if n.leaf() {
		if n.vals() == 0 || n.vals() > leafMax {
			t.Fatalf("%s: leaf of %d values", where, n.vals())
		}
		for i := range n.vals() {
			v := n.val(i)
			if v < lo || hasHi && v >= hi || i > 0 && n.val(i-1) >= v {
				t.Fatalf("%s: leaf value %q out of order or range [%q, %q)", where, v, lo, hi)
			}
			switch {
			case !n.isMulti(i):
				all.Add(n.one[i])
			case n.post[n.one[i]].bm != nil:
				bm := n.post[n.one[i]].bm
				if bm.GetCardinality() <= postMax {
					t.Fatalf("%s: value %q has a bitmap of %d", where, v, bm.GetCardinality())
				}
				all.Or(bm)
			default:
				ids := n.post[n.one[i]].ids
				if len(ids) < 2 || len(ids) > postMax {
					t.Fatalf("%s: value %q has a list of %d IDs", where, v, len(ids))
				}
				for k := 1; k < len(ids); k++ {
					if ids[k-1] >= ids[k] {
						t.Fatalf("%s: value %q: IDs out of order", where, v)
					}
				}
				all.AddMany(ids)
			}
		}
		if n.ids == nil && all.GetCardinality() >= leafUnionAt {
			t.Fatalf("%s: leaf of %d IDs without its union", where, all.GetCardinality())
		}
	} else {
		if len(n.kids) == 0 || len(n.kids) > fanMax || len(n.keys) != len(n.kids) {
			t.Fatalf("%s: inner node of %d kids, %d keys", where, len(n.kids), len(n.keys))
		}
		for i, k := range n.kids {
			klo, khi, kh := n.kidRange(i, lo, hi, hasHi)
			all.Or(checkNode(t, k, klo, khi, kh, where))
		}
		if n.ids == nil {
			t.Fatalf("%s: inner node without its union", where)
		}
	}
	if n.ids != nil && !n.ids.Equals(all) {
		t.Fatalf("%s: union of %d IDs, the values hold %d", where, n.ids.GetCardinality(), all.GetCardinality())
	}
	if n.n != int(all.GetCardinality()) {
		t.Fatalf("%s: count %d, the values hold %d", where, n.n, all.GetCardinality())
	}
	return all
}

// TestStrIndexModel edits the string index with random batches (creates,
// value changes, deletes) and compares every range and prefix with the
// model after each, and that old versions do not change.
func TestStrIndexModel(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	for _, tc := range []struct {
		name     string
		distinct int
		ids      int
	}{
		{"unique", 100000, 30000}, // many values, one holder each: tall tree
		{"skewed", 3, 30000},      // few values, bitmaps of holders
		{"mixed", 3000, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := strModel{}
			var x *strIndex
			var keep []*strIndex
			var keepM []strModel
			next := uint32(0)
			for step := range 60 {
				var batch []struct {
					id  uint32
					val string
				}
				size := 1 + r.IntN(50)
				if step == 0 || step%15 == 0 {
					size = tc.ids / 4
				}
				for range size {
					var id uint32
					switch {
					case len(m) == 0 || r.IntN(3) == 0:
						id = next
						next++
					default:
						id = uint32(r.IntN(int(next)))
					}
					v := randStrValue(r, tc.distinct)
					if r.IntN(10) == 0 {
						v = "\x01" // delete
					}
					batch = append(batch, struct {
						id  uint32
						val string
					}{id, v})
				}
				x = x.edit(batchChanges(m, batch))
				where := fmt.Sprintf("seed %d step %d", seed, step)
				checkStrIndex(t, x, m, r, where)
				if step%10 == 0 {
					keep, keepM = append(keep, x), append(keepM, maps.Clone(m))
				}
			}
			for i, old := range keep {
				checkStrIndex(t, old, keepM[i], r, fmt.Sprintf("seed %d: version %d after later edits", seed, i))
			}
			// A build from scratch answers the same.
			var pairs []strPair
			for id, v := range m {
				pairs = append(pairs, strPair{prefixKey(v), v, id})
			}
			slices.SortFunc(pairs, cmpPair)
			checkStrIndex(t, buildStrIndex(pairs), m, r, fmt.Sprintf("seed %d: built", seed))
		})
	}
}

// TestSortPairs checks the two ways a build sorts its pairs, the
// grouping of repeated values and the parallel sort, against a plain
// sort.
func TestSortPairs(t *testing.T) {
	r := newRand(testSeed(t))
	for _, distinct := range []int{3, 500, 1 << 20} {
		pairs := make([]strPair, 200000)
		for i := range pairs {
			v := randStrValue(r, distinct)
			if r.IntN(3) == 0 {
				v = "longer shared prefix " + v
			}
			pairs[i] = strPair{prefixKey(v), v, uint32(i)}
		}
		want := slices.Clone(pairs)
		slices.SortFunc(want, func(a, b strPair) int {
			return stdcmp.Or(strings.Compare(a.val, b.val), stdcmp.Compare(a.id, b.id))
		})
		got := slices.Clone(pairs)
		sortPairs(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%d values: sortPairs differs", distinct)
		}
		grouped, ok := groupPairs(pairs)
		if ok != (distinct < 1000) {
			t.Fatalf("%d values: grouped %v", distinct, ok)
		}
		if ok && !slices.Equal(grouped, want) {
			t.Fatalf("%d values: groupPairs differs", distinct)
		}
	}
	ids := make([]uint32, 100000)
	for i := range ids {
		ids[i] = r.Uint32()
	}
	want := slices.Sorted(slices.Values(ids))
	sortIDs(ids)
	if !slices.Equal(ids, want) {
		t.Fatal("sortIDs differs")
	}
}
