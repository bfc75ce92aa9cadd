package cluster

// The state machine: every node applies the same log to its own index.
// An entry is one byte of kind and a payload:
//
//	'c' a command of the API (the payload is the server's encoding; the
//	    ApplyFunc given to the node decodes and applies it);
//	'n' nothing: a leader commits one in its term before it answers a
//	    linearizable read (see Node.ReadIndex);
//	'm' a member's HTTP address (JSON nodeMeta), for forwarding and
//	    GET /v1/cluster.
//
// A command is applied in one Update that also records the entry's index
// (Tx.SetApplied): after a restart, entries at or below the file's applied
// index are skipped, so none is lost or applied twice. A command that
// fails (a customer not found, a duplicate) fails the same way on every
// node: its writes are rolled back and the entry is recorded applied in an
// Update of its own. Any other failure (a commit that did not reach the
// disk, a damaged file) stops the node: skipping the entry would let the
// replicas drift apart; the node is restarted and catches up or is
// restored from a snapshot.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/tagseg/tagseg"
)

// ApplyFunc applies one command of the API, as the server encoded it, in
// tx: deterministically (the same command on the same state gives the
// same writes and the same result on every node). Its result is handed
// back to the caller of Node.Apply on the leader. An error it returns is
// the command's (nothing it wrote is kept) unless it wraps
// tagseg.ErrCorrupt or tagseg.ErrClosed, which stop the node.
type ApplyFunc func(tx *tagseg.Tx, cmd []byte) (result any, err error)

// Entry kinds, the first byte of a log entry.
const (
	kindCommand byte = 'c'
	kindNop     byte = 'n'
	kindMeta    byte = 'm'
)

// nodeMeta is a member's HTTP address (Delete: forget it).
type nodeMeta struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr,omitempty"`
	Delete   bool   `json:"delete,omitempty"`
}

// Result is what applying an entry gave, as Node.Apply returns it.
type Result struct {
	Value any    // the ApplyFunc's result
	Err   error  // the command's error
	Index uint64 // the entry's index in the log
}

// fsm implements raft.FSM (and raft.ConfigurationStore, to count
// configuration entries as applied) over one index file.
type fsm struct {
	path   string
	opts   *tagseg.Options
	apply  ApplyFunc
	stable raft.StableStore // where the members' HTTP addresses persist
	fatal  func(error)
	ixs    holder

	// skip: commands at or below it are in the file already.
	skip uint64
	// applied is the index of the last entry the node processed (any
	// kind); term its term. They only grow.
	applied atomic.Uint64
	term    atomic.Uint64
	// advanced is closed (and replaced) whenever applied grows.
	mu       sync.Mutex
	advanced chan struct{}
	meta     map[string]string // member ID → HTTP address
	restores atomic.Int64      // snapshots restored (for tests and logs)
}

// stable store key of the members' HTTP addresses
var keyMeta = []byte("tagseg-members")

func newFSM(path string, opts *tagseg.Options, apply ApplyFunc, stable raft.StableStore, fatal func(error)) (*fsm, error) {
	ix, err := tagseg.Open(path, opts)
	if err != nil {
		return nil, err
	}
	n, err := ix.Applied()
	if err != nil {
		ix.Close()
		return nil, err
	}
	f := &fsm{path: path, opts: opts, apply: apply, stable: stable, fatal: fatal, skip: n, advanced: make(chan struct{}), meta: map[string]string{}}
	f.ixs.cur = &gen{ix: ix}
	f.applied.Store(n)
	if b, err := stable.Get(keyMeta); err == nil && len(b) > 0 {
		if err := json.Unmarshal(b, &f.meta); err != nil {
			ix.Close()
			return nil, fmt.Errorf("cluster: members' addresses in the Raft store: %w", err)
		}
	}
	return f, nil
}

// advance records that entry index of term was processed (term 0: a
// configuration entry, whose term the FSM is not told).
func (f *fsm) advance(index, term uint64) {
	f.mu.Lock()
	if index > f.applied.Load() {
		f.applied.Store(index)
		if term != 0 {
			f.term.Store(term)
		}
		close(f.advanced)
		f.advanced = make(chan struct{})
	}
	f.mu.Unlock()
}

// waitCh returns a channel closed when applied next grows.
func (f *fsm) waitCh() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.advanced
}

// errRollback ends an Update whose command failed.
var errRollback = errors.New("cluster: command failed")

// Apply applies one committed entry.
func (f *fsm) Apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		f.fatal(fmt.Errorf("cluster: empty log entry %d", l.Index))
		return nil
	}
	res := &Result{Index: l.Index}
	switch l.Data[0] {
	case kindMeta:
		var m nodeMeta
		if err := json.Unmarshal(l.Data[1:], &m); err != nil {
			f.fatal(fmt.Errorf("cluster: log entry %d: %v", l.Index, err))
			return nil
		}
		f.setMeta(m)
	case kindNop:
		// nothing to write: the entry only marks the leader's term
	case kindCommand:
		if l.Index <= f.skip {
			break // in the file already
		}
		ix := f.ixs.cur.ix // the FSM's goroutine is the only one to swap it
		err := ix.Update(func(tx *tagseg.Tx) error {
			res.Value, res.Err = f.apply(tx, l.Data[1:])
			if res.Err != nil {
				return errRollback
			}
			return tx.SetApplied(l.Index)
		})
		if err == errRollback {
			if errors.Is(res.Err, tagseg.ErrCorrupt) || errors.Is(res.Err, tagseg.ErrClosed) {
				err = res.Err
			} else {
				// The command failed as it does on every node: record the
				// entry applied, nothing else.
				res.Value = nil
				err = ix.Update(func(tx *tagseg.Tx) error { return tx.SetApplied(l.Index) })
			}
		}
		if err != nil {
			f.fatal(fmt.Errorf("cluster: apply log entry %d: %w", l.Index, err))
			return nil
		}
	default:
		f.fatal(fmt.Errorf("cluster: log entry %d of unknown kind %q", l.Index, l.Data[0]))
		return nil
	}
	f.advance(l.Index, l.Term)
	return res
}

// isCommand reports whether l is a command the file does not hold yet.
func (f *fsm) isCommand(l *raft.Log) bool {
	return l.Type == raft.LogCommand && len(l.Data) > 0 && l.Data[0] == kindCommand && l.Index > f.skip
}

// ApplyBatch applies committed entries (raft.BatchingFSM): a run of
// commands in one Update, one fsync for the run, with the index of its
// last entry. When a command of the run fails, the run is applied again
// up to it (the same commands on the same state: the same results), and
// the failing one alone, as Apply does.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i := 0; i < len(logs); {
		if !f.isCommand(logs[i]) {
			if logs[i].Type == raft.LogConfiguration {
				f.advance(logs[i].Index, 0)
			} else {
				out[i] = f.Apply(logs[i])
			}
			i++
			continue
		}
		j := i + 1
		for j < len(logs) && f.isCommand(logs[j]) {
			j++
		}
		n := f.applyRun(logs[i:j], out[i:j])
		if n == 0 {
			out[i] = f.Apply(logs[i]) // the first fails: alone
			n = 1
		}
		i += n
	}
	return out
}

// applyRun applies commands in one Update and returns how many it
// applied: all, or those before the first that failed (then 0 when it is
// the first).
func (f *fsm) applyRun(run []*raft.Log, out []any) int {
	ix := f.ixs.cur.ix
	for len(run) > 0 {
		failed := -1
		res := make([]*Result, len(run))
		err := ix.Update(func(tx *tagseg.Tx) error {
			for k, l := range run {
				v, err := f.apply(tx, l.Data[1:])
				if err != nil {
					failed = k
					return errRollback
				}
				res[k] = &Result{Value: v, Index: l.Index}
			}
			return tx.SetApplied(run[len(run)-1].Index)
		})
		switch {
		case err == errRollback:
			run = run[:failed]
			continue
		case err != nil:
			f.fatal(fmt.Errorf("cluster: apply log entries %d–%d: %w", run[0].Index, run[len(run)-1].Index, err))
			return len(run)
		}
		for k := range run {
			out[k] = res[k]
		}
		last := run[len(run)-1]
		f.advance(last.Index, last.Term)
		return len(run)
	}
	return 0
}

// StoreConfiguration counts a configuration entry as applied.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.advance(index, 0)
}

func (f *fsm) setMeta(m nodeMeta) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.Delete {
		delete(f.meta, m.ID)
	} else {
		f.meta[m.ID] = m.HTTPAddr
	}
	f.saveMeta()
}

// saveMeta persists the members' addresses; under mu.
func (f *fsm) saveMeta() {
	b, _ := json.Marshal(f.meta)
	if err := f.stable.Set(keyMeta, b); err != nil {
		f.fatal(fmt.Errorf("cluster: save members' addresses: %w", err))
	}
}

// httpAddr returns a member's HTTP address, or "".
func (f *fsm) httpAddr(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.meta[id]
}

// snapshotHeader precedes the index file in a snapshot.
type snapshotHeader struct {
	Applied uint64            `json:"applied"` // the FSM's applied index at Snapshot
	Members map[string]string `json:"members"` // HTTP addresses
}

const snapshotMagic = "tagseg-raft-snapshot-1\n"

// Snapshot captures the index for a snapshot: the file itself, copied by
// Backup when raft persists it (see snapshot).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	g := f.ixs.acquire()
	f.mu.Lock()
	h := snapshotHeader{Applied: f.applied.Load(), Members: make(map[string]string, len(f.meta))}
	for k, v := range f.meta {
		h.Members[k] = v
	}
	f.mu.Unlock()
	return &snapshot{g: g, h: h}, nil
}

// snapshot is the index of one moment, written by Persist: a header, then
// Backup's copy of the file. The copy may hold entries applied after
// Snapshot was called; the file's applied index says which, and a node
// restored from it skips them.
type snapshot struct {
	g    *gen
	h    snapshotHeader
	once sync.Once
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	err := func() error {
		w := bufio.NewWriterSize(sink, 1<<20)
		h, _ := json.Marshal(s.h)
		if _, err := w.WriteString(snapshotMagic); err != nil {
			return err
		}
		if err := binary.Write(w, binary.BigEndian, uint32(len(h))); err != nil {
			return err
		}
		if _, err := w.Write(h); err != nil {
			return err
		}
		if _, err := s.g.ix.Backup(w); err != nil {
			return err
		}
		return w.Flush()
	}()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.once.Do(s.g.release) }

// Restore replaces the index with a snapshot's copy: checked and renamed
// into place (tagseg.Restore), opened, and swapped in; the old index
// serves the requests that hold it until they end, then closes.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("cluster: restore: not a tagseg snapshot")
	}
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || n > 64<<20 {
		return fmt.Errorf("cluster: restore: bad snapshot header")
	}
	hb := make([]byte, n)
	var h snapshotHeader
	if _, err := io.ReadFull(r, hb); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return fmt.Errorf("cluster: restore: snapshot header: %w", err)
	}
	if _, err := tagseg.Restore(f.path, r); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	ix, err := tagseg.Open(f.path, f.opts)
	if err != nil {
		// The file at path is the checked copy; the old index is no longer
		// at path: this node cannot go on.
		f.fatal(fmt.Errorf("cluster: restore: open the copy: %w", err))
		return err
	}
	a, err := ix.Applied()
	if err != nil {
		f.fatal(fmt.Errorf("cluster: restore: %w", err))
		return err
	}
	f.skip = a
	f.mu.Lock()
	f.meta = h.Members
	if f.meta == nil {
		f.meta = map[string]string{}
	}
	f.saveMeta()
	f.mu.Unlock()
	f.advance(max(a, h.Applied), 0)
	f.ixs.swap(ix)
	f.restores.Add(1)
	return nil
}

// holder holds the current index; a swap waits for the holders of the old
// one to release it before closing it.
type holder struct {
	mu  sync.Mutex
	cur *gen
}

// gen is one index and its holders, and the API's handler over it (made
// on first use: see Node.Handler).
type gen struct {
	ix   *tagseg.Index
	refs sync.WaitGroup
	once sync.Once
	api  http.Handler
}

func (h *holder) acquire() *gen {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.cur
	g.refs.Add(1)
	return g
}

func (g *gen) release() { g.refs.Done() }

// index returns the current index (for a caller that holds it or needs
// no guarantee that it stays open).
func (h *holder) index() *tagseg.Index {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur.ix
}

// swap makes ix current, then closes the old index once its holders are
// done: in the background, so that the FSM goes on.
func (h *holder) swap(ix *tagseg.Index) {
	h.mu.Lock()
	old := h.cur
	h.cur = &gen{ix: ix}
	h.mu.Unlock()
	go func() {
		old.refs.Wait()
		old.ix.Close()
	}()
}

// close closes the current index once its holders are done.
func (h *holder) close() error {
	h.mu.Lock()
	g := h.cur
	h.mu.Unlock()
	g.refs.Wait()
	return g.ix.Close()
}
