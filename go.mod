module github.com/tagseg/tagseg

go 1.26.8

require (
	// Pinned: the copy-on-write of published snapshots (state.go: freeze,
	// patch) rests on roaring's internals: the per-container "needs copy
	// on write" flags, Clone marking a copy-on-write bitmap's containers
	// shared as a side effect, and Or/AndNot copying a shared container
	// before changing it. None of that is roaring's documented API. Before
	// moving this version (here or in any module of go.work), run
	// TestPublishedBitmapsNeverChange and the race tests against it, read
	// freeze and patch again, then update pinnedRoaring (cow_test.go).
	github.com/RoaringBitmap/roaring/v2 v2.30.0
	github.com/google/go-cmp v0.7.0
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	github.com/mschoch/smat v0.2.0 // indirect
	golang.org/x/sys v0.46.0 // indirect
)
