package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Log compaction (cleanup.policy=compact or compact,delete), performed by a
// background cleaner while producers and consumers go on. The package doc
// describes the cleaned segment format and the swap protocol; in short:
//
//   - A pass over a partition takes its closed segments that are durable
//     (fsynced, below the high watermark), older than min.compaction.lag.ms
//     and before the first unstable (open transaction) offset: the cleanable
//     range. The active segment is never cleaned.
//   - The part of it after the cleaner checkpoint is dirty. When dirty bytes
//     / cleanable bytes reach min.cleanable.dirty.ratio, the pass maps each
//     key of the dirty part to its latest offset (the map is bounded by
//     Options.CompactionBufferBytes; a pass then covers fewer segments), and
//     rewrites every cleanable segment up to the mapped end without the
//     records a later record of the same key supersedes.
//   - Tombstones (null values) and transaction markers get a delete horizon
//     (now + delete.retention.ms, KIP-534) the first time a pass keeps them,
//     and are removed by a pass after it; a marker only once no record of its
//     transaction remains before it.
//   - Offsets never change: a cleaned batch keeps its base offset and last
//     offset delta, and batches whose records all went are left out, so a
//     cleaned segment has gaps that readers step over.

// ErrRecordWithoutKey: a record without a key was appended to a compacted
// topic (Kafka answers INVALID_RECORD, CORRUPT_MESSAGE before Produce v8).
var ErrRecordWithoutKey = errors.New("compacted topic cannot accept a record without a key")

// Cleaner defaults.
const (
	// DefaultCompactionCheckInterval is how often the cleaner looks for
	// partitions to clean (Kafka's log.cleaner.backoff.ms).
	DefaultCompactionCheckInterval = 15 * time.Second
	// DefaultCompactionBufferBytes bounds the key map of one pass (Kafka's
	// log.cleaner.dedupe.buffer.size).
	DefaultCompactionBufferBytes = 32 << 20
)

// cleanerCheckpointName is the per-partition file holding the first dirty
// offset and the earliest pending delete horizon (-1 if none) as decimal
// text, replaced crash-safely after each pass. Losing it costs one needless
// pass, never data.
const cleanerCheckpointName = "cleaner-offset"

// mapEntryOverhead approximates what a key map entry costs beside the key.
const mapEntryOverhead = 48

// cleaner is the store's compaction state.
type cleaner struct {
	s  *Store
	mu sync.Mutex // one pass at a time

	stateMu sync.Mutex
	state   map[*Partition]*cleanState

	cleanedBytes atomic.Int64 // bytes of segments read and rewritten by passes
	removedBytes atomic.Int64 // bytes passes removed from the log
	passes       atomic.Int64

	// hook, if set, is called at each step of a segment swap ("written",
	// "synced", "indexes-removed", "renamed", "dir-synced"); crash tests
	// kill the process there.
	hook func(step string)
}

type cleanState struct {
	loaded     bool
	checkpoint int64 // first dirty offset
	// horizon is the earliest delete horizon of a tombstone or marker the
	// last pass kept (-1: none): once it has passed, a pass runs whatever
	// the dirty ratio, to remove them.
	horizon int64
}

// abortedTxn is an aborted transaction of one producer: its data lies in
// [first, last] and last is its abort marker.
type abortedTxn struct {
	producerID  int64
	first, last int64
}

// compactionFirstUnstableLocked returns the first offset of the oldest
// transaction still open on the partition, or -1 if none; the cleaner does
// not clean from the segment holding it on, because an open transaction's
// records may still be aborted. The caller holds p.mu.
func (p *Partition) compactionFirstUnstableLocked() int64 {
	first := int64(-1)
	for _, o := range p.txns.open {
		if first < 0 || o < first {
			first = o
		}
	}
	return first
}

// compactionAbortedTxns returns the aborted transactions whose data lies in
// [from, to), from the partition's aborted-transaction index (txnindex.go).
// The cleaner keeps their records out of the key map (an aborted write never
// supersedes a committed one) and removes them; the abort marker goes like
// any marker once no record of its transaction is left before it.
func (p *Partition) compactionAbortedTxns(from, to int64) []abortedTxn {
	idx := p.AbortedTxns(from, to)
	out := make([]abortedTxn, 0, len(idx))
	for _, a := range idx {
		out = append(out, abortedTxn{producerID: a.ProducerID, first: a.FirstOffset, last: a.LastOffset})
	}
	return out
}

func newCleaner(s *Store) *cleaner {
	return &cleaner{s: s, state: make(map[*Partition]*cleanState)}
}

func (c *cleaner) stateFor(p *Partition) *cleanState {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	st, ok := c.state[p]
	if !ok {
		st = &cleanState{horizon: -1}
		c.state[p] = st
	}
	if !st.loaded {
		st.loaded = true
		if data, err := os.ReadFile(filepath.Join(p.dir, cleanerCheckpointName)); err == nil {
			f := strings.Fields(string(data))
			if len(f) == 2 {
				off, err1 := strconv.ParseInt(f[0], 10, 64)
				hz, err2 := strconv.ParseInt(f[1], 10, 64)
				if err1 == nil && err2 == nil && off >= 0 {
					st.checkpoint, st.horizon = off, hz
				}
			}
		}
	}
	return st
}

func (s *Store) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock()
	}
	return time.Now()
}

// runCleaner runs compaction passes every CompactionCheckInterval.
func (s *Store) runCleaner() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.CompactionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if _, err := s.Compact(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Error("compaction failed", "error", err)
			}
		}
	}
}

// CompactionResult sums up a Compact call.
type CompactionResult struct {
	Partitions     int   // partitions cleaned
	Segments       int   // segments rewritten
	BytesRead      int64 // bytes of the segments cleaned
	BytesRemoved   int64 // bytes the cleaning removed from the log
	RecordsRemoved int64
}

// Compact runs one compaction pass over every partition of a compacted
// topic whose dirty ratio has reached its min.cleanable.dirty.ratio, the
// dirtiest first, and returns what it did. The background cleaner calls it
// every Options.CompactionCheckInterval; passes never overlap.
func (s *Store) Compact() (CompactionResult, error) {
	c := s.cleaner
	c.mu.Lock()
	defer c.mu.Unlock()
	type cand struct {
		p     *Partition
		ratio float64
	}
	var cands []cand
	for _, p := range s.allPartitions() {
		cfg := p.cfg.Load()
		if !cfg.compacts() {
			continue
		}
		r, dirty := p.dirtyRatio(s.now())
		st := c.stateFor(p)
		c.stateMu.Lock()
		hz := st.horizon
		c.stateMu.Unlock()
		if (dirty > 0 && r >= cfg.MinCleanableDirtyRatio) || (hz >= 0 && s.now().UnixMilli() >= hz) {
			cands = append(cands, cand{p, r})
		}
	}
	c.forgetClosed()
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].ratio > cands[j].ratio })
	var total CompactionResult
	var errs error
	for _, cd := range cands {
		select {
		case <-s.done:
			return total, errors.Join(errs, ErrClosed)
		default:
		}
		res, err := c.clean(cd.p)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("compact %s: %w", cd.p, err))
		}
		if res.Segments > 0 || res.BytesRead > 0 {
			total.Partitions++
		}
		total.Segments += res.Segments
		total.BytesRead += res.BytesRead
		total.BytesRemoved += res.BytesRemoved
		total.RecordsRemoved += res.RecordsRemoved
	}
	return total, errs
}

// forgetClosed drops the state of partitions closed since (deleted topics).
func (c *cleaner) forgetClosed() {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	for p := range c.state {
		p.mu.RLock()
		closed := p.closed
		p.mu.RUnlock()
		if closed {
			delete(c.state, p)
		}
	}
}

// CompactionStats are the cleaner's counters since Open.
type CompactionStats struct {
	CleanedBytes int64 // bytes of segments passes read and rewrote
	RemovedBytes int64 // bytes passes removed
	Passes       int64 // partition passes that cleaned something
}

// CompactionStats returns the cleaner's counters.
func (s *Store) CompactionStats() CompactionStats {
	c := s.cleaner
	return CompactionStats{CleanedBytes: c.cleanedBytes.Load(), RemovedBytes: c.removedBytes.Load(), Passes: c.passes.Load()}
}

// DirtyRatio returns the share of the partition's cleanable bytes (closed,
// durable segments) not yet cleaned, and false if its topic is not
// compacted.
func (p *Partition) DirtyRatio() (float64, bool) {
	cfg := p.cfg.Load()
	if !cfg.compacts() {
		return 0, false
	}
	r, _ := p.dirtyRatio(p.store.now())
	return r, true
}

// cleanableLocked returns the partition's cleanable segments, from the
// first on: closed, durable, wholly below the high watermark, older than
// min.compaction.lag.ms and before the first unstable offset. The caller
// holds p.mu.
func (p *Partition) cleanableLocked(now time.Time, cfg *TopicConfig) []*segment {
	lagLimit := now.UnixMilli() - cfg.MinCompactionLagMs
	unstable := p.compactionFirstUnstableLocked()
	var out []*segment
	for _, s := range p.segs[:len(p.segs)-1] {
		if slices.Contains(p.pendingSync, s) || s.next > p.hwm ||
			(cfg.MinCompactionLagMs > 0 && s.maxTs > lagLimit) ||
			(unstable >= 0 && s.next > unstable) {
			break
		}
		out = append(out, s)
	}
	return out
}

// dirtyRatio returns dirty / cleanable bytes and the dirty bytes.
func (p *Partition) dirtyRatio(now time.Time) (float64, int64) {
	c := p.store.cleaner
	st := c.stateFor(p)
	c.stateMu.Lock()
	checkpoint := st.checkpoint
	c.stateMu.Unlock()
	cfg := p.cfg.Load()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, 0
	}
	var dirty, total int64
	for _, s := range p.cleanableLocked(now, cfg) {
		total += s.size
		if s.next > checkpoint {
			dirty += s.size
		}
	}
	if total == 0 {
		return 0, 0
	}
	return float64(dirty) / float64(total), dirty
}

// eachBatch calls fn for every batch of a closed segment, in order, with
// the batch's bytes (valid during the call only) and header.
func eachBatch(s *segment, fn func(b []byte, h *batchHeader) error) error {
	r := scanReaders.Get().(*bufio.Reader)
	r.Reset(io.NewSectionReader(s.f, 0, s.size))
	defer func() { r.Reset(nil); scanReaders.Put(r) }()
	buf := make([]byte, 64<<10)
	for pos := int64(0); pos < s.size; {
		if _, err := io.ReadFull(r, buf[:batchHeaderSize]); err != nil {
			return fmt.Errorf("segment %d: read at %d: %w", s.base, pos, err)
		}
		h, err := parseHeader(buf[:batchHeaderSize])
		if err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
		if h.size > len(buf) {
			nb := make([]byte, h.size)
			copy(nb, buf[:batchHeaderSize])
			buf = nb
		}
		if _, err := io.ReadFull(r, buf[batchHeaderSize:h.size]); err != nil {
			return fmt.Errorf("segment %d: read at %d: %w", s.base, pos, err)
		}
		h.pos = int(pos)
		if err := fn(buf[:h.size], &h); err != nil {
			return err
		}
		pos += int64(h.size)
	}
	return nil
}

func isAborted(aborted []abortedTxn, h *batchHeader) bool {
	if h.attributes&attrTransactional == 0 || h.attributes&attrControl != 0 {
		return false
	}
	for _, a := range aborted {
		if a.producerID == h.producerID && h.baseOffset >= a.first && h.baseOffset <= a.last {
			return true
		}
	}
	return false
}

// horizonPassed reports whether a batch has a delete horizon at or before now.
func horizonPassed(b []byte, now int64) bool {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	return attrs&attrDeleteHorizon != 0 && int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])) <= now
}

func hasHorizon(b []byte) bool {
	return binary.BigEndian.Uint16(b[offAttributes:])&attrDeleteHorizon != 0
}

// clean runs one pass over p (see the top of this file).
func (c *cleaner) clean(p *Partition) (CompactionResult, error) {
	var res CompactionResult
	now := c.s.now()
	cfg := p.cfg.Load()
	if !cfg.compacts() {
		return res, nil
	}
	st := c.stateFor(p)
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return res, nil
	}
	segs := p.cleanableLocked(now, cfg)
	for _, s := range segs {
		s.acquire()
	}
	p.mu.RUnlock()
	defer func() {
		for _, s := range segs {
			s.release()
		}
	}()
	if len(segs) == 0 {
		return res, nil
	}
	c.stateMu.Lock()
	firstDirty := max(st.checkpoint, segs[0].base)
	c.stateMu.Unlock()
	aborted := p.compactionAbortedTxns(segs[0].base, segs[len(segs)-1].next)

	// The key map of the dirty part: key -> latest offset.
	latest := make(map[string]int64)
	var mapBytes int64
	// Without dirty segments (a pass for passed delete horizons) the clean
	// part is rewritten against an empty map.
	mapEnd := min(firstDirty, segs[len(segs)-1].next)
	budget := c.s.opts.CompactionBufferBytes
	mapped := false
	for _, s := range segs {
		if s.next <= firstDirty {
			continue
		}
		if mapped && mapBytes >= budget {
			break
		}
		mapped = true
		err := eachBatch(s, func(b []byte, h *batchHeader) error {
			if h.attributes&attrControl != 0 || isAborted(aborted, h) {
				return nil
			}
			return eachRecord(b, func(r *record) {
				if r.key == nil {
					return
				}
				off := h.baseOffset + int64(r.offsetDelta)
				if old, ok := latest[string(r.key)]; !ok {
					latest[string(r.key)] = off
					mapBytes += int64(len(r.key)) + mapEntryOverhead
				} else if off > old {
					latest[string(r.key)] = off
				}
			})
		})
		if err != nil {
			return res, err
		}
		mapEnd = s.next
		select {
		case <-c.s.done:
			return res, ErrClosed
		default:
		}
	}
	if mapEnd <= segs[0].base {
		return res, nil
	}

	// Rewrite every segment up to the mapped end.
	txnData := make(map[int64]bool) // producer -> records of its open transaction remain
	minHorizon := int64(-1)
	for _, s := range segs {
		if s.base >= mapEnd {
			break
		}
		sr, err := c.cleanSegment(p, s, latest, aborted, txnData, now.UnixMilli(), cfg)
		if err != nil {
			return res, err
		}
		if sr.minHorizon >= 0 && (minHorizon < 0 || sr.minHorizon < minHorizon) {
			minHorizon = sr.minHorizon
		}
		res.BytesRead += s.size
		res.BytesRemoved += sr.removedBytes
		res.RecordsRemoved += sr.removedRecords
		if sr.swapped {
			res.Segments++
		}
		select {
		case <-c.s.done:
			return res, ErrClosed
		default:
		}
	}
	if err := writeFileAtomic(filepath.Join(p.dir, cleanerCheckpointName), fmt.Appendf(nil, "%d %d\n", mapEnd, minHorizon)); err != nil {
		return res, fmt.Errorf("persist cleaner checkpoint: %w", err)
	}
	c.stateMu.Lock()
	st.checkpoint, st.horizon = mapEnd, minHorizon
	c.stateMu.Unlock()
	c.cleanedBytes.Add(res.BytesRead)
	c.removedBytes.Add(res.BytesRemoved)
	c.passes.Add(1)
	if res.Segments > 0 {
		c.s.log.Info("compacted partition", "partition", p.String(), "segments", res.Segments,
			"bytes_read", res.BytesRead, "bytes_removed", res.BytesRemoved, "records_removed", res.RecordsRemoved)
	}
	return res, nil
}

type segmentClean struct {
	minHorizon     int64 // earliest delete horizon of a kept tombstone or marker, -1 if none
	swapped        bool
	removedBytes   int64
	removedRecords int64
}

func (c *cleaner) step(name string) {
	if c.hook != nil {
		c.hook(name)
	}
}

// cleanSegment writes the cleaned copy of s to a temp file and, if it
// differs from s, swaps it in (see "Compaction" in the package doc).
func (c *cleaner) cleanSegment(p *Partition, s *segment, latest map[string]int64, aborted []abortedTxn,
	txnData map[int64]bool, now int64, cfg *TopicConfig) (segmentClean, error) {
	sc := segmentClean{minHorizon: -1}
	tmpPath := filepath.Join(p.dir, fmt.Sprintf("%020d.cleaned.tmp", s.base))
	f, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return sc, fmt.Errorf("segment %d: create cleaned copy: %w", s.base, err)
	}
	discard := func() {
		f.Close()
		os.Remove(tmpPath)
	}
	ns := newSegmentStruct(s.path, s.base, f)
	w := bufio.NewWriterSize(f, 256<<10)
	var pos int64
	changed := false
	horizon := now + cfg.DeleteRetentionMs
	var keep []record
	err = eachBatch(s, func(b []byte, h *batchHeader) error {
		out := b
		drop, pending := false, false // pending: a kept tombstone or marker
		if h.attributes&attrControl != 0 {
			// A transaction marker: kept while records of its transaction
			// remain before it, and until its delete horizon.
			if !txnData[h.producerID] && horizonPassed(b, now) {
				drop = true
			}
			delete(txnData, h.producerID)
			if !drop && !hasHorizon(b) {
				keep = keep[:0]
				if err := eachRecord(b, func(r *record) { keep = append(keep, *r) }); err != nil {
					return err
				}
				nb, err := rebuildBatch(b, keep, horizon)
				if err != nil {
					return err
				}
				out = nb
			}
			pending = !drop
		} else {
			abortedBatch := isAborted(aborted, h)
			keep = keep[:0]
			removed, tombstones := 0, false
			err := eachRecord(b, func(r *record) {
				off := h.baseOffset + int64(r.offsetDelta)
				gone := abortedBatch
				if !gone && r.key != nil {
					if l, ok := latest[string(r.key)]; ok && l > off {
						gone = true
					}
				}
				if !gone && r.nullValue && horizonPassed(b, now) {
					gone = true
				}
				if gone {
					removed++
					return
				}
				keep = append(keep, *r)
				tombstones = tombstones || r.nullValue
			})
			if err != nil {
				return err
			}
			sc.removedRecords += int64(removed)
			switch {
			case len(keep) == 0:
				drop = true
			case removed > 0 || (tombstones && !hasHorizon(b)):
				hz := int64(-1)
				if tombstones {
					hz = horizon
				}
				nb, err := rebuildBatch(b, keep, hz)
				if err != nil {
					return err
				}
				out = nb
			}
			if len(keep) > 0 && h.attributes&attrTransactional != 0 {
				txnData[h.producerID] = true
			}
			pending = tombstones
		}
		if drop {
			changed = true
			sc.removedBytes += int64(len(b))
			return nil
		}
		if len(out) != len(b) || &out[0] != &b[0] {
			changed = true
			sc.removedBytes += int64(len(b) - len(out))
		}
		if pending {
			if hz := int64(binary.BigEndian.Uint64(out[offBaseTimestamp:])); sc.minHorizon < 0 || hz < sc.minHorizon {
				sc.minHorizon = hz
			}
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("segment %d: write cleaned copy: %w", s.base, err)
		}
		oh, err := parseHeader(out)
		if err != nil {
			return err
		}
		ns.observe(&oh, pos, oh.baseOffset)
		pos += int64(len(out))
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil || !changed {
		discard()
		return segmentClean{minHorizon: sc.minHorizon}, err
	}
	c.step("written")
	if err := f.Sync(); err != nil {
		discard()
		return segmentClean{}, fmt.Errorf("segment %d: fsync cleaned copy: %w", s.base, err)
	}
	c.step("synced")
	// The new file may become durable only after the active segment's
	// directory entry is (recovery trusts offset gaps in closed segments
	// only), so the directory is fsynced first.
	if err := fsyncDir(p.dir); err != nil {
		discard()
		return segmentClean{}, err
	}
	ns.sealTimeIndex()
	ns.size, ns.visible, ns.next, ns.created = pos, pos, s.next, s.created

	p.mu.Lock()
	i := slices.Index(p.segs, s)
	if p.closed || i < 0 || i == len(p.segs)-1 {
		// Deleted by retention, DeleteRecords or a topic deletion meanwhile.
		p.mu.Unlock()
		discard()
		return segmentClean{}, nil
	}
	// The old indexes would not fit the new log: remove them first, so a
	// crash between here and the rename rebuilds them from the old log.
	for _, path := range []string{s.indexPath(), s.timeIndexPath()} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.mu.Unlock()
			discard()
			return segmentClean{}, fmt.Errorf("segment %d: remove index: %w", s.base, err)
		}
	}
	c.step("indexes-removed")
	if err := os.Rename(tmpPath, s.path); err != nil {
		p.mu.Unlock()
		discard()
		return segmentClean{}, fmt.Errorf("segment %d: swap in cleaned copy: %w", s.base, err)
	}
	c.step("renamed")
	p.segs[i] = ns
	if err := ns.writeIndexes(); err != nil {
		p.store.log.Warn("cannot write cleaned segment indexes; they will be rebuilt on open", "partition", p.String(), "error", err)
	}
	p.mu.Unlock()
	s.release() // the partition's reference; readers keep theirs
	if err := fsyncDir(p.dir); err != nil {
		return sc, err
	}
	c.step("dir-synced")
	sc.swapped = true
	return sc, nil
}
