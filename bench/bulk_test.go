package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// BenchmarkBulkTag times the writes that change one tag on many customers
// at once, each one durable transaction, on the cached tagseg index
// (issue 21 asks, at 10M customers: a bulk tag of 1M customers in ≤ 3 s
// with ≤ 300 MB more RSS, rename-tag of a 1M-holder tag in ≤ 3 s,
// delete-tag in ≤ 1 s). One iteration is three operations:
//
//   - add: a new tag added to every member of SegmentQ (about N/10
//     customers) with AddTagsToSegment;
//   - rename: that tag renamed as tagseg rename-tag does it, in one
//     transaction (AddTagsToSegment of the new name to the old one's
//     holders, then RemoveTagsFromSegment of the old);
//   - delete: the new name removed from every holder, as tagseg delete-tag
//     does it (RemoveTagsFromSegment).
//
// Together they leave the index as it was (a marker file makes an
// interrupted run rebuild it). Each reports its seconds (s-add, …), the
// customers it changed and the RSS its peak added over the RSS before it
// (MB-add, …: VmHWM, reset before each, less VmRSS after a GC).
func BenchmarkBulkTag(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		ix := e.ts.Ix
		b.Run(fmt.Sprintf("n=%d/sys=tagseg", n), func(b *testing.B) {
			if err := markDirty(e.ts.Path); err != nil {
				b.Fatal(err)
			}
			const oldTag, newTag = "bench-bulk-old", "bench-bulk-new"
			seg := SegmentQ.Expr()
			ops := []struct {
				name string
				fn   func() (int, error)
			}{
				{"add", func() (int, error) { return ix.AddTagsToSegment(seg, oldTag) }},
				{"rename", func() (changed int, err error) {
					err = ix.Update(func(tx *tagseg.Tx) error {
						if changed, err = tx.AddTagsToSegment(tagseg.Tag(oldTag), newTag); err != nil {
							return err
						}
						_, err = tx.RemoveTagsFromSegment(tagseg.Tag(oldTag), oldTag)
						return err
					})
					return changed, err
				}},
				{"delete", func() (int, error) { return ix.RemoveTagsFromSegment(tagseg.Tag(newTag), newTag) }},
			}
			secs := make([]float64, len(ops))
			mbs := make([]float64, len(ops))
			changed := 0
			for b.Loop() {
				for i, op := range ops {
					b.StopTimer()
					runtime.GC()
					debug.FreeOSMemory()
					base := procStatus("VmRSS")
					resetPeakRSS()
					b.StartTimer()
					t0 := time.Now()
					k, err := op.fn()
					if err != nil {
						b.Fatalf("%s: %v", op.name, err)
					}
					secs[i] += time.Since(t0).Seconds()
					if peak := procStatus("VmHWM"); peak > 0 && base > 0 {
						mbs[i] = max(mbs[i], float64(peak-base)/(1<<20))
					}
					changed = k
					logf("bench: bulk %s of %d customers: %.2f s, peak RSS +%.0f MB", op.name, k, time.Since(t0).Seconds(), mbs[i])
				}
			}
			for i, op := range ops {
				b.ReportMetric(secs[i]/float64(b.N), "s-"+op.name)
				b.ReportMetric(mbs[i], "MB-"+op.name)
			}
			b.ReportMetric(float64(changed), "customers")
			for _, t := range []string{oldTag, newTag} {
				if k, err := ix.Count(tagseg.Tag(t)); err != nil || k != 0 {
					b.Fatalf("%s held by %d after the benchmark (%v)", t, k, err)
				}
			}
			if err := markClean(e.ts.Path); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// procStatus returns a size field of /proc/self/status in bytes (0 when
// it cannot be read: not Linux).
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0 on).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
