package group

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

const (
	logName      = "log"
	snapshotName = "snapshot"
	snapshotTemp = "snapshot.tmp"
)

// tp names a partition of a topic.
type tp struct {
	topic     string
	partition int32
}

// durableGroup is the durable state of one group: what replaying the log yields.
type durableGroup struct {
	meta    *groupRecord
	offsets map[tp]offsetRecord
}

// store is the durable side of the coordinator: an append-only log of records,
// compacted into a snapshot. It keeps a materialized copy of everything it has
// written so it can compact without asking the groups.
type store struct {
	dir    string
	noSync bool
	log    *slog.Logger

	mu      sync.Mutex // guards everything below except synced
	f       *os.File
	size    int64
	written uint64 // records appended so far
	state   map[string]*durableGroup
	buf     []byte
	closed  bool

	syncMu sync.Mutex // serialises fsyncs; one fsync covers every record written before it started
	synced uint64     // guarded by syncMu
}

var errStoreClosed = errors.New("group store closed")

// openStore opens (creating if needed) the store in dir, replays the snapshot and
// the log (truncating a torn or corrupt log tail), and compacts the result into a
// fresh snapshot so the next open starts from it.
func openStore(dir string, noSync bool, logger *slog.Logger) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("group store: create %s: %w", dir, err)
	}
	// The directory may be new: make its entry in the parent durable.
	if !noSync {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("group store: %w", err)
		}
	}
	s := &store{dir: dir, noSync: noSync, log: logger, state: make(map[string]*durableGroup)}
	_ = os.Remove(filepath.Join(dir, snapshotTemp)) // leftover of an interrupted compaction

	snap, err := os.ReadFile(filepath.Join(dir, snapshotName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("group store: read snapshot: %w", err)
	default:
		// The snapshot is written whole before it is renamed into place, so
		// any damage in it is real corruption, not a torn write.
		for off := 0; off < len(snap); {
			r, n, err := readFrame(snap[off:])
			if err != nil {
				return nil, fmt.Errorf("group store: snapshot at byte %d: %w", off, err)
			}
			s.apply(&r)
			off += n
		}
	}

	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("group store: open log: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("group store: read log: %w", err)
	}
	good := 0
	for good < len(data) {
		r, n, err := readFrame(data[good:])
		if err != nil {
			logger.Warn("group log: truncating torn or corrupt tail", "offset", good, "dropped_bytes", len(data)-good, "err", err)
			break
		}
		s.apply(&r)
		good += n
	}
	s.f = f
	s.size = int64(good)
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, fmt.Errorf("group store: truncate torn log tail: %w", err)
		}
	}
	if err := s.compact(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// apply folds one record into the materialized state. Replaying a sequence of
// records over a state that already contains them yields the same state, which
// makes a crash between writing a snapshot and emptying the log harmless.
func (s *store) apply(r *record) {
	switch r.kind {
	case kindOffset, kindOffsetDelete, kindGroup:
	case kindGroupDelete:
		delete(s.state, r.group)
		return
	default:
		return
	}
	g := s.state[r.group]
	if g == nil {
		g = &durableGroup{offsets: make(map[tp]offsetRecord)}
		s.state[r.group] = g
	}
	switch r.kind {
	case kindOffset:
		g.offsets[tp{r.offset.Topic, r.offset.Partition}] = r.offset
	case kindOffsetDelete:
		delete(g.offsets, tp{r.offset.Topic, r.offset.Partition})
		if len(g.offsets) == 0 && g.meta == nil {
			delete(s.state, r.group)
		}
	case kindGroup:
		m := r.meta
		g.meta = &m
	}
}

// append writes records to the log in one write and returns the sequence number
// to pass to sync. On a failed write the log is cut back: nothing partial remains
// and the records are not applied.
func (s *store) append(recs ...record) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStoreClosed
	}
	s.buf = s.buf[:0]
	for i := range recs {
		s.buf = appendFrame(s.buf, &recs[i])
	}
	if _, err := s.f.WriteAt(s.buf, s.size); err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			s.log.Error("group log: cannot cut back a failed write", "err", terr)
		}
		return 0, fmt.Errorf("group store: append: %w", err)
	}
	s.size += int64(len(s.buf))
	for i := range recs {
		s.apply(&recs[i])
	}
	s.written++
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	}
	return s.written, nil
}

// sync returns once the records up to seq are on stable storage. Concurrent
// callers share fsyncs: whoever syncs covers everything written before it began.
func (s *store) sync(seq uint64) error {
	if s.noSync {
		return nil
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= seq {
		return nil
	}
	s.mu.Lock()
	target, f, closed := s.written, s.f, s.closed
	s.mu.Unlock()
	if closed {
		return errStoreClosed
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("group store: fsync log: %w", err)
	}
	s.synced = target
	return nil
}

// logSize returns the current size of the log in bytes.
func (s *store) logSize() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// compact writes the materialized state to a new snapshot (temp file, fsync,
// rename, fsync the directory) and then empties the log.
func (s *store) compact() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStoreClosed
	}
	var buf []byte
	names := make([]string, 0, len(s.state))
	for name := range s.state {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g := s.state[name]
		if g.meta != nil {
			buf = appendFrame(buf, &record{kind: kindGroup, group: name, meta: *g.meta})
		}
		for _, o := range g.offsets {
			buf = appendFrame(buf, &record{kind: kindOffset, group: name, offset: o})
		}
	}
	tmp := filepath.Join(s.dir, snapshotTemp)
	if err := writeFileSync(tmp, buf, !s.noSync); err != nil {
		return fmt.Errorf("group store: write snapshot: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, snapshotName)); err != nil {
		return fmt.Errorf("group store: install snapshot: %w", err)
	}
	if !s.noSync {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("group store: %w", err)
		}
	}
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("group store: empty log after snapshot: %w", err)
	}
	if !s.noSync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("group store: fsync emptied log: %w", err)
		}
		// The log file itself may be new; its directory entry was synced above.
	}
	s.size = 0
	s.synced = s.written
	return nil
}

// snapshotState returns a copy of the materialized state (used on open).
func (s *store) snapshotState() map[string]*durableGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*durableGroup, len(s.state))
	for name, g := range s.state {
		c := &durableGroup{offsets: make(map[tp]offsetRecord, len(g.offsets))}
		if g.meta != nil {
			m := *g.meta
			c.meta = &m
		}
		for k, v := range g.offsets {
			c.offsets[k] = v
		}
		out[name] = c
	}
	return out
}

// close compacts the log into the snapshot and closes it. It is idempotent.
func (s *store) close() error {
	err := s.compact()
	if errors.Is(err, errStoreClosed) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if cerr := s.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("group store: close log: %w", cerr)
	}
	return err
}

func writeFileSync(name string, data []byte, doSync bool) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if doSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
