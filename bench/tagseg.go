package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/internal/gen"
)

// OpenOptions are the options the benchmarks open the cached index with:
// the kept answers off (Options.CacheBytes −1), so that every timed read
// is a first-time answer. BenchmarkAnswers opens it with them on.
var OpenOptions = &tagseg.Options{CacheBytes: -1}

// Tagseg is the System under test.
type Tagseg struct {
	Ix   *tagseg.Index
	Path string
}

// Name implements System.
func (*Tagseg) Name() string { return "tagseg" }

// Count implements System: Index.Count, which builds no member set and
// sums no MRR.
func (s *Tagseg) Count(q Q) (uint64, error) { return s.Ix.Count(q.Expr()) }

// CountMRR implements System.
func (s *Tagseg) CountMRR(q Q) (uint64, int64, error) {
	seg, err := s.Ix.Segment(q.Expr())
	if err != nil {
		return 0, 0, err
	}
	return seg.Count(), seg.MRR(), nil
}

// Series implements System.
func (s *Tagseg) Series(q Q, from, to time.Time) ([]Point, error) {
	pts, err := s.Ix.Series(q.Expr(), from, to, tagseg.Month)
	if err != nil {
		return nil, err
	}
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = Point{Start: p.Start, MRR: p.MRR, Customers: int64(p.Customers),
			NewBusiness: p.NewBusiness, Expansion: p.Expansion, Contraction: p.Contraction, Churn: p.Churn, Reactivation: p.Reactivation}
	}
	return out, nil
}

// TagStats implements System.
func (s *Tagseg) TagStats(q Q, limit int, byCount bool) ([]TagStat, error) {
	st, err := s.Ix.TagStats(q.Expr(), tagseg.TagStatsOptions{Limit: limit, ByCount: byCount})
	if err != nil {
		return nil, err
	}
	out := make([]TagStat, len(st))
	for i, t := range st {
		out[i] = TagStat(t)
	}
	return out, nil
}

// AddTag implements Writer: one durable AddTags call.
func (s *Tagseg) AddTag(t Target, tag string) error {
	_, err := s.Ix.AddTags(t.UUID, tag)
	return err
}

// RemoveTag implements Writer: one Update removing tag from every target.
func (s *Tagseg) RemoveTag(ts []Target, tag string) error {
	return s.Ix.Update(func(tx *tagseg.Tx) error {
		for _, t := range ts {
			if _, err := tx.RemoveTags(t.UUID, tag); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close implements System.
func (s *Tagseg) Close() error { return s.Ix.Close() }

// Targets returns up to n customers of the index that lack tag, in ID
// order, for the write benchmarks.
func (s *Tagseg) Targets(tag string, n int) ([]Target, error) {
	seg, err := s.Ix.Segment(tagseg.Not(tagseg.Tag(tag)))
	if err != nil {
		return nil, err
	}
	var out []Target
	for c := range seg.Customers() {
		out = append(out, Target{ID: c.ID, UUID: c.UUID})
		if len(out) == n {
			break
		}
	}
	return out, nil
}

// ToCustomer maps a generated customer onto a tagseg customer (the UUID
// is left for tagseg to assign). Its slices and map are shared with c.
func ToCustomer(c *gen.Customer) tagseg.Customer {
	return tagseg.Customer{
		DataSourceUUID: c.DataSourceUUID, ExternalID: c.ExternalID,
		Name: c.Name, Email: c.Email, Company: c.Company,
		Country: c.Country, State: c.State, City: c.City, Zip: c.Zip,
		LeadCreatedAt: c.LeadCreatedAt, FreeTrialStartedAt: c.FreeTrialStartedAt,
		Tags: c.Tags, Custom: c.Custom,
	}
}

// DefaultBatch is the number of customers per Update when loading.
const DefaultBatch = 65_536

// LoadTagseg creates a new index at path (removing any file there) and
// loads the data set into it with Index.Load (durable batches of 65,536
// customers; batch is the generator's batch size). Customers get dense
// IDs in load order, which the benchmarks assume. With noSync the batches
// are not fsynced and the file is fsynced once at the end (inside the
// time measured); otherwise every batch is durable.
func (d *Dataset) LoadTagseg(path string, batch int, noSync bool) (LoadMeta, error) {
	meta := LoadMeta{System: "tagseg", N: d.N, Seed: d.Seed, Mode: "durable"}
	if noSync {
		meta.Mode = "nosync+fsync"
	}
	os.Remove(path)
	start := time.Now()
	ix, err := tagseg.Open(path, &tagseg.Options{NoSync: noSync})
	if err != nil {
		return meta, err
	}
	bar := Progress(d.N, "tagseg load ("+meta.Mode+")")
	n, err := ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for _, cs := range d.Batches(batch) {
			for i := range cs {
				c := &cs[i]
				events := make([]tagseg.MRRChange, len(c.Events))
				for j, e := range c.Events {
					events[j] = tagseg.MRRChange{At: e.At, Cents: e.Cents}
				}
				meta.Assignments += int64(len(c.Tags))
				meta.Events += int64(len(c.Events))
				if !yield(ToCustomer(c), events) {
					return
				}
			}
			bar.Add(len(cs))
		}
	})
	if err == nil && n != d.N {
		err = fmt.Errorf("loaded %d customers of %d", n, d.N)
	}
	if err != nil {
		ix.Close()
		return meta, err
	}
	bar.Finish()
	if err := ix.Close(); err != nil {
		return meta, err
	}
	if noSync {
		if err := syncFile(path); err != nil {
			return meta, err
		}
	}
	meta.Seconds = time.Since(start).Seconds()
	meta.Built = time.Now().UTC()
	return meta, nil
}

// UpdateTagseg creates a new index at path (removing any file there) and
// imports the data set through Index.Update batches of DefaultBatch
// customers, each one durable transaction: CreateCustomer, then SetMRR per
// MRR event — what an embedding service writes without knowing Load.
func (d *Dataset) UpdateTagseg(path string) (LoadMeta, error) {
	meta := LoadMeta{System: "tagseg", N: d.N, Seed: d.Seed, Mode: "update-batches"}
	os.Remove(path)
	start := time.Now()
	ix, err := tagseg.Open(path, nil)
	if err != nil {
		return meta, err
	}
	bar := Progress(d.N, "tagseg import (Update batches)")
	for _, cs := range d.Batches(DefaultBatch) {
		err = ix.Update(func(tx *tagseg.Tx) error {
			for i := range cs {
				c := &cs[i]
				got, err := tx.CreateCustomer(ToCustomer(c))
				if err != nil {
					return err
				}
				for _, e := range c.Events {
					if err := tx.SetMRR(got.UUID, e.At, e.Cents); err != nil {
						return err
					}
				}
				meta.Assignments += int64(len(c.Tags))
				meta.Events += int64(len(c.Events))
			}
			return nil
		})
		if err != nil {
			ix.Close()
			return meta, err
		}
		bar.Add(len(cs))
	}
	bar.Finish()
	if err := ix.Close(); err != nil {
		return meta, err
	}
	meta.Seconds = time.Since(start).Seconds()
	meta.Built = time.Now().UTC()
	return meta, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TagsegPath is the cached index file of the data set. Its name carries
// a fingerprint of the library's storage code (LibFingerprint), so a
// change of the on-disk layout, even one that keeps the format version,
// builds a new cache instead of reading an old file.
func (d *Dataset) TagsegPath() string {
	return filepath.Join(DataDir(), "tagseg-"+d.Key()+"-"+LibFingerprint()+".db")
}

// LibFingerprint is the first 8 hex digits of the SHA-256 of the
// library's files that define the file format (the layout and the codecs:
// formatFiles), read from the module root beside bench/ (the replace
// directive's ../), or "nosrc" when one cannot be read.
func LibFingerprint() string {
	h := sha256.New()
	for _, f := range formatFiles {
		b, err := os.ReadFile(filepath.Join(libDir(), f))
		if err != nil {
			return "nosrc"
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// formatFiles are the library's files that define its on-disk format: the
// bbolt layout and the codecs of every stored value.
var formatFiles = []string{"layout.go", "record.go", "column.go", "history.go", "chunk.go", "journal.go"}

// libDir is the root module's directory: the parent of this package's
// source directory.
func libDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ".."
	}
	return filepath.Dir(filepath.Dir(file))
}

// OpenTagseg opens the cached index of the data set, building it first
// (durable batches) when it is missing, left dirty by an interrupted
// write benchmark, or unreadable by this version of tagseg.
func (d *Dataset) OpenTagseg() (*Tagseg, error) {
	path := d.TagsegPath()
	if _, err := os.Stat(path); err == nil && !isDirty(path) {
		ix, err := tagseg.Open(path, OpenOptions)
		if err == nil {
			return &Tagseg{Ix: ix, Path: path}, nil
		}
		if !errors.Is(err, tagseg.ErrCorrupt) && !errors.Is(err, tagseg.ErrVersion) {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "bench: rebuilding %s: %v\n", path, err)
	}
	if err := d.BuildTagseg(path + ".building"); err != nil {
		return nil, err
	}
	if err := os.Rename(path+".building", path); err != nil {
		return nil, err
	}
	os.Rename(path+".building.json", path+".json")
	os.Remove(dirtyPath(path))
	ix, err := tagseg.Open(path, OpenOptions)
	if err != nil {
		return nil, err
	}
	return &Tagseg{Ix: ix, Path: path}, nil
}

// BuildTagseg loads the data set into a new index at path with durable
// batches and records how long it took beside it.
func (d *Dataset) BuildTagseg(path string) error {
	meta, err := d.LoadTagseg(path, DefaultBatch, false)
	if err != nil {
		return err
	}
	return writeMeta(path, meta)
}
