package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// logStartName is the per-partition file holding the log start offset set
// by DeleteRecords, as decimal text, replaced crash-safely.
const logStartName = "log-start-offset"

// Partition is one partition's log: a list of segments, the last of which
// (the active one) takes appends. It is safe for concurrent use; reads never
// wait for an fsync.
type Partition struct {
	store *Store
	topic string
	id    int32
	dir   string
	cfg   atomic.Pointer[TopicConfig]

	mu          sync.RWMutex
	segs        []*segment // by base offset; the last is active
	leo         int64      // log end offset: next offset to assign
	hwm         int64      // high watermark: consumers see offsets below it
	logStart    int64      // persisted log start (DeleteRecords); the effective one is max(this, segs[0].base)
	producers   map[int64]*producerState
	txns        txnIndex   // open and aborted transactions (txnindex.go)
	pendingSync []*segment // rolled segments not yet fsynced
	dirDirty    bool       // a file was created in dir since its last fsync
	queued      bool       // in the store's dirty list
	syncErr     error      // last fsync failure, cleared by a successful round
	syncErrEnd  int64      // the failed round covered offsets below this
	hwmCh       chan struct{}
	hwmChTaken  atomic.Bool // hwmCh was handed out since it was made
	closed      bool
}

// String returns "<topic>-<partition>".
func (p *Partition) String() string { return p.topic + "-" + strconv.Itoa(int(p.id)) }

// Topic returns the partition's topic name.
func (p *Partition) Topic() string { return p.topic }

// ID returns the partition index.
func (p *Partition) ID() int32 { return p.id }

func (p *Partition) logStartLocked() int64 {
	if b := p.segs[0].base; b > p.logStart {
		return b
	}
	return p.logStart
}

// notifyLocked wakes everyone waiting on Wait. The channel is replaced only
// if someone took it, so appends nobody waits for allocate nothing.
func (p *Partition) notifyLocked() {
	if p.hwmChTaken.Swap(false) {
		close(p.hwmCh)
		p.hwmCh = make(chan struct{})
	}
}

// waitChLocked hands out the current wake-up channel; the caller holds p.mu
// (read or write).
func (p *Partition) waitChLocked() chan struct{} {
	p.hwmChTaken.Store(true)
	return p.hwmCh
}

// openPartition opens or creates a partition directory and recovers it.
func openPartition(s *Store, topic string, id int32, cfg TopicConfig) (*Partition, error) {
	dir := filepath.Join(s.opts.Dir, "topics", topic+"-"+strconv.Itoa(int(id)))
	p := &Partition{store: s, topic: topic, id: id, dir: dir, producers: make(map[int64]*producerState), hwmCh: make(chan struct{})}
	p.cfg.Store(&cfg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("partition %s: %w", p, err)
	}
	if err := p.recover(); err != nil {
		for _, seg := range p.segs {
			seg.release()
		}
		return nil, fmt.Errorf("partition %s: %w", p, err)
	}
	return p, nil
}

func (p *Partition) recover() error {
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") || strings.Contains(name, ".tmp") {
			os.Remove(filepath.Join(p.dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		b, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil || b < 0 {
			continue
		}
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	if data, err := os.ReadFile(filepath.Join(p.dir, logStartName)); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && v >= 0 {
			p.logStart = v
		}
	}

	log := p.store.log.With("partition", p.String())
	dirChanged := false
	for i, base := range bases {
		path := segmentName(p.dir, base)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("segment %d: open: %w", base, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("segment %d: stat: %w", base, err)
		}
		seg := newSegmentStruct(path, base, f)
		p.segs = append(p.segs, seg)
		size := fi.Size()
		last := i == len(bases)-1
		seg.gaps = !last // closed segments may have been compacted
		if !last && seg.loadIndexes(size) && seg.walkTail(size) && seg.next <= bases[i+1] {
			seg.visible = seg.size
			seg.created = fi.ModTime()
			seg.next = bases[i+1] // a compacted segment ends where the next begins
			continue
		}
		valid, err := seg.scan(nil)
		if err != nil {
			return err
		}
		seg.visible = seg.size
		if seg.maxTs >= 0 {
			seg.created = time.UnixMilli(seg.maxTs)
		}
		if valid < size {
			log.Warn("truncating torn or corrupt segment tail", "segment", base, "valid_bytes", valid, "file_bytes", size)
			if err := f.Truncate(valid); err != nil {
				return fmt.Errorf("segment %d: truncate: %w", base, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("segment %d: fsync: %w", base, err)
			}
		}
		if !last && seg.next < bases[i+1] && valid == size {
			seg.next = bases[i+1] // compacted: it ends where the next begins
		}
		if !last && seg.next != bases[i+1] {
			// A hole: later segments cannot follow this one. Keep the
			// contiguous prefix only.
			log.Warn("dropping segments after a gap", "segment", base, "end_offset", seg.next, "next_segment", bases[i+1])
			for _, b := range bases[i+1:] {
				for _, ext := range []string{".log", ".index", ".timeindex"} {
					os.Remove(segmentName(p.dir, b)[:len(segmentName(p.dir, b))-4] + ext)
				}
			}
			dirChanged = true
			break
		}
	}
	if len(p.segs) == 0 {
		seg, err := createSegment(p.dir, p.logStart)
		if err != nil {
			return err
		}
		p.segs = append(p.segs, seg)
		dirChanged = true
	}
	active := p.segs[len(p.segs)-1]
	p.leo = active.next
	if p.logStart > p.leo {
		p.logStart = p.leo
	}
	p.hwm = p.leo
	if err := active.f.Sync(); err != nil {
		return fmt.Errorf("segment %d: fsync: %w", active.base, err)
	}
	if dirChanged {
		if err := fsyncDir(p.dir); err != nil {
			return err
		}
	}
	return p.rebuildProducers()
}

// rebuildProducers restores the idempotent producer table from the snapshot
// (if valid) plus the batch headers after it, or from every batch header.
func (p *Partition) rebuildProducers() error {
	from := p.segs[0].base
	if data, err := os.ReadFile(filepath.Join(p.dir, snapshotName)); err == nil {
		// A snapshot below the first segment still holds producers whose
		// batches retention has deleted since; one beyond the log end is
		// stale (the log was truncated after it was written).
		if m, aborted, off, err := decodeSnapshot(data); err == nil && off <= p.leo {
			p.producers, p.txns.aborted, from = m, aborted, max(off, from)
		}
	}
	for _, seg := range p.segs {
		if seg.next <= from {
			continue
		}
		start := int64(0)
		if from > seg.base {
			start = seg.lookup(from)
		}
		var txnErr error
		err := seg.forEachHeader(start, seg.size, func(h *batchHeader, pos int64) bool {
			if h.idempotent() && h.baseOffset >= from {
				applyProducerBatch(p.producers, h, h.baseOffset)
			}
			if h.baseOffset >= from {
				txnErr = p.replayTxnLocked(seg, h, pos)
			}
			return txnErr == nil
		})
		if err == nil {
			err = txnErr
		}
		if err != nil {
			return fmt.Errorf("rebuild producer state: %w", err)
		}
	}
	p.restoreOpenTxnsLocked()
	return nil
}

// AppendResult reports where an append landed.
type AppendResult struct {
	BaseOffset, LastOffset int64 // offsets assigned to the first and last record
	LogAppendTime          int64 // -1 unless message.timestamp.type=LogAppendTime
	LogStartOffset         int64
	Duplicate              bool // an idempotent retry: nothing appended, offsets are the original ones
}

// ReadResult is what Read returns.
type ReadResult struct {
	HighWatermark, LogStartOffset int64
	// Data holds whole record batches starting at the batch containing the
	// requested offset (so it may begin before it); empty at the end.
	Data []byte
}

// Append validates and appends one or more concatenated record batches
// (magic v2 only; length and CRC-32C checked; compressed batches stored as
// sent) atomically: all or nothing, with one write. It assigns offsets by
// rewriting each batch's baseOffset and partitionLeaderEpoch (0) in place in
// batches, which the caller must not use concurrently; for
// message.timestamp.type=LogAppendTime it also sets the timestamp type and
// max timestamp and recomputes the CRC.
//
// Idempotent producers (producerId >= 0): per producer it tracks the epoch
// and the last 5 batches' sequences; a retry of one of them returns
// Duplicate with the original offsets; a gap is ErrOutOfOrderSequence; an
// older epoch is ErrInvalidProducerEpoch; a producer without state here
// starting at a sequence other than 0 is ErrUnknownProducerID. A batch over
// max.message.bytes is ErrMessageTooLarge. A write that fails (ENOSPC:
// ErrDiskFull) is truncated back: nothing partial remains.
//
// In SyncEveryAck mode the records become visible to Read once fsynced; call
// Sync to wait for that.
func (p *Partition) Append(batches []byte) (AppendResult, error) {
	return p.append(batches, true)
}

// AppendDeferred is Append without starting a group-commit round in
// SyncEveryAck mode: the partition joins the next round, which the caller
// starts with Store.StartSync once it has appended everything it has at
// hand. A produce request for several partitions thus gets one round for
// all of them instead of one for its first partition and one for the rest.
// Until StartSync (or another Append) is called the records stay invisible
// and Sync waits.
func (p *Partition) AppendDeferred(batches []byte) (AppendResult, error) {
	return p.append(batches, false)
}

func (p *Partition) append(batches []byte, kick bool) (AppendResult, error) {
	var arr [4]batchHeader
	hs, err := parseBatches(batches, arr[:0])
	if err != nil {
		return AppendResult{}, fmt.Errorf("partition %s: %w", p, err)
	}
	cfg := p.cfg.Load()
	for i := range hs {
		if hs[i].size > int(cfg.MaxMessageBytes) {
			return AppendResult{}, fmt.Errorf("partition %s: %w: %d bytes, max.message.bytes is %d", p, ErrMessageTooLarge, hs[i].size, cfg.MaxMessageBytes)
		}
	}
	if cfg.compacts() {
		if err := requireKeys(batches, hs); err != nil {
			return AppendResult{}, fmt.Errorf("partition %s: %w", p, err)
		}
	}
	logAppend := cfg.TimestampType == "LogAppendTime"

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return AppendResult{}, fmt.Errorf("partition %s: %w", p, ErrClosed)
	}

	// Idempotence checks, all before any change.
	dups := 0
	var dupFirst, dupLast producerBatch
	type chained struct {
		epoch   int16
		lastSeq int32
	}
	var inAppend map[int64]chained
	for i := range hs {
		h := &hs[i]
		if !h.idempotent() {
			if h.control() && h.producerID >= 0 {
				if st := p.producers[h.producerID]; st != nil && h.producerEpoch < st.epoch {
					return AppendResult{}, fmt.Errorf("partition %s: %w: marker of producer %d epoch %d, current %d", p, ErrInvalidProducerEpoch, h.producerID, h.producerEpoch, st.epoch)
				}
			}
			continue
		}
		if c, ok := inAppend[h.producerID]; ok {
			if h.producerEpoch != c.epoch || h.baseSequence != c.lastSeq+1 {
				return AppendResult{}, fmt.Errorf("partition %s: %w: batches of producer %d in one append do not follow each other", p, ErrOutOfOrderSequence, h.producerID)
			}
		} else {
			res, orig, err := checkSequence(p.producers[h.producerID], h)
			if err != nil {
				return AppendResult{}, fmt.Errorf("partition %s: %w", p, err)
			}
			if res == seqDuplicate {
				if dups == 0 {
					dupFirst = orig
				}
				dupLast = orig
				dups++
				continue
			}
		}
		if len(hs) > 1 {
			if inAppend == nil {
				inAppend = make(map[int64]chained)
			}
			inAppend[h.producerID] = chained{h.producerEpoch, h.lastSequence()}
		}
	}
	if dups > 0 {
		if dups != len(hs) {
			return AppendResult{}, fmt.Errorf("partition %s: %w: an append mixes retried and new batches", p, ErrOutOfOrderSequence)
		}
		return AppendResult{BaseOffset: dupFirst.baseOffset, LastOffset: dupLast.lastOffset, LogAppendTime: -1,
			LogStartOffset: p.logStartLocked(), Duplicate: true}, nil
	}

	// Assign offsets.
	be := binary.BigEndian
	first := p.leo
	next := first
	appendTime := int64(-1)
	if logAppend {
		appendTime = time.Now().UnixMilli()
	}
	for i := range hs {
		h := &hs[i]
		b := batches[h.pos : h.pos+h.size]
		be.PutUint64(b[offBaseOffset:], uint64(next))
		be.PutUint32(b[offLeaderEpoch:], 0)
		if logAppend {
			h.attributes |= attrLogAppendTime
			be.PutUint16(b[offAttributes:], uint16(h.attributes))
			be.PutUint64(b[offMaxTimestamp:], uint64(appendTime))
			h.maxTimestamp = appendTime
			be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
		}
		h.baseOffset = next
		next += int64(h.lastOffsetDelta) + 1
	}

	seg := p.segs[len(p.segs)-1]
	if seg.size > 0 && (seg.size+int64(len(batches)) > cfg.SegmentBytes ||
		time.Since(seg.created) >= time.Duration(cfg.SegmentMs)*time.Millisecond ||
		next-seg.base > math.MaxInt32) {
		if seg, err = p.rollLocked(); err != nil {
			return AppendResult{}, fmt.Errorf("partition %s: %w", p, err)
		}
	}
	if seg.size+int64(len(batches)) > math.MaxUint32 {
		return AppendResult{}, fmt.Errorf("partition %s: %w: segment would exceed 4 GiB", p, ErrMessageTooLarge)
	}

	if seg.size == 0 {
		seg.created = time.Now() // segment.ms counts from the first append
	}
	if _, err := p.store.writeAt(seg.f, batches, seg.size); err != nil {
		// Roll back: nothing partial may remain.
		terr := seg.f.Truncate(seg.size)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			err = fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		if terr != nil {
			p.store.log.Error("cannot truncate segment after a failed write", "partition", p.String(), "segment", seg.base, "error", terr)
			err = errors.Join(err, terr)
		}
		return AppendResult{}, fmt.Errorf("partition %s: append: %w", p, err)
	}
	pos := seg.size
	for i := range hs {
		h := &hs[i]
		seg.observe(h, pos+int64(h.pos), h.baseOffset)
		if h.idempotent() {
			applyProducerBatch(p.producers, h, h.baseOffset)
		}
		p.trackTxnLocked(h, h.baseOffset, batches[h.pos:h.pos+h.size])
	}
	seg.unsynced = true
	p.leo = next
	switch p.store.opts.Sync {
	case SyncEveryAck:
		p.queueSyncLocked(kick)
	case SyncInterval:
		seg.visible = seg.size
		p.hwm = next
		p.notifyLocked()
		p.queueSyncLocked(false)
	default:
		seg.visible = seg.size
		p.hwm = next
		p.notifyLocked()
	}
	return AppendResult{BaseOffset: first, LastOffset: next - 1, LogAppendTime: appendTime, LogStartOffset: p.logStartLocked()}, nil
}

// rollLocked closes the active segment for appends and starts a new one.
func (p *Partition) rollLocked() (*segment, error) {
	old := p.segs[len(p.segs)-1]
	old.sealTimeIndex()
	if err := old.writeIndexes(); err != nil {
		p.store.log.Warn("cannot write segment indexes; they will be rebuilt on open", "partition", p.String(), "error", err)
	}
	if err := writeSnapshot(p.dir, p.producers, p.abortedForSnapshotLocked(), p.leo); err != nil {
		p.store.log.Warn("cannot write producer snapshot; it will be rebuilt on open", "partition", p.String(), "error", err)
	}
	seg, err := createSegment(p.dir, p.leo)
	if err != nil {
		return nil, err
	}
	if p.store.opts.Sync != SyncNever {
		if old.unsynced {
			p.pendingSync = append(p.pendingSync, old)
		}
		p.dirDirty = true
	}
	p.segs = append(p.segs, seg)
	return seg, nil
}

// queueSyncLocked puts the partition on the syncer's list; kick wakes the
// syncer now (SyncEveryAck) rather than at its next tick.
func (p *Partition) queueSyncLocked(kick bool) {
	if !p.queued {
		p.queued = true
		p.store.dirtyMu.Lock()
		p.store.dirty = append(p.store.dirty, p)
		p.store.dirtyMu.Unlock()
	}
	if kick {
		p.store.StartSync()
	}
}

// syncJob is one partition's part of a group-commit round: what to fsync
// (taken under the partition lock by startSync), the fsyncs (flush, run
// without the lock, partitions in parallel), and the publication of the
// result (finish).
type syncJob struct {
	p           *Partition
	skip        bool // the partition is closed
	active      *segment
	target, leo int64
	pending     []*segment
	dirDirty    bool
	wasUnsynced bool
	err         error
}

// startSync takes what was written to the partition before the call.
func (p *Partition) startSync() syncJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queued = false
	if p.closed {
		return syncJob{p: p, skip: true}
	}
	active := p.segs[len(p.segs)-1]
	j := syncJob{p: p, active: active, target: active.size, leo: p.leo, dirDirty: p.dirDirty, pending: p.pendingSync, wasUnsynced: active.unsynced}
	p.pendingSync, p.dirDirty = nil, false
	active.unsynced = false
	for _, s := range j.pending {
		s.acquire()
	}
	active.acquire()
	return j
}

// flush fsyncs the job's files.
func (j *syncJob) flush() {
	if j.skip {
		return
	}
	p := j.p
	for _, s := range j.pending {
		if e := p.store.fsyncFile(s.f); e != nil && !errors.Is(e, os.ErrClosed) {
			j.err = errors.Join(j.err, fmt.Errorf("segment %d: fsync: %w", s.base, e))
		}
	}
	if j.wasUnsynced {
		if e := p.store.fsyncFile(j.active.f); e != nil && !errors.Is(e, os.ErrClosed) {
			j.err = errors.Join(j.err, fmt.Errorf("segment %d: fsync: %w", j.active.base, e))
		}
	}
	if j.dirDirty {
		if e := fsyncDir(p.dir); e != nil {
			j.err = errors.Join(j.err, e)
		}
	}
}

// finish releases the job's segments and, in SyncEveryAck mode, advances
// the high watermark over what was fsynced (or records the failure).
func (j *syncJob) finish() {
	if j.skip {
		return
	}
	p, err := j.p, j.err
	p.store.syncRounds.Add(1)
	p.mu.Lock()
	for _, s := range j.pending {
		s.release()
	}
	j.active.release()
	if err != nil && p.closed {
		// Deleted or closed meanwhile: close or drop took over the files.
		p.mu.Unlock()
		return
	}
	if err != nil {
		p.syncErr = fmt.Errorf("partition %s: %w", p, err)
		p.syncErrEnd = j.leo
		p.pendingSync = append(j.pending, p.pendingSync...)
		p.dirDirty = p.dirDirty || j.dirDirty
		j.active.unsynced = j.active.unsynced || j.wasUnsynced
		p.hwmChTaken.Store(true)
		p.notifyLocked()
		p.mu.Unlock()
		p.store.log.Error("fsync failed", "partition", p.String(), "error", err)
		return
	}
	p.syncErr = nil
	if p.store.opts.Sync == SyncEveryAck {
		for _, s := range j.pending {
			s.visible = s.size
		}
		if j.active.visible < j.target {
			j.active.visible = j.target
		}
		if j.leo > p.hwm {
			p.hwm = j.leo
			p.notifyLocked()
		}
	}
	p.mu.Unlock()
}

// Sync waits until offset last is durable per the SyncMode: in SyncEveryAck
// mode until a group-commit round has fsynced it (one fsync round covers
// every append that arrived before it started); in the other modes it
// returns at once, the data being in the page cache already. It returns
// ctx's error if ctx ends first, and an fsync failure as an error.
func (p *Partition) Sync(ctx context.Context, last int64) error {
	if p.store.opts.Sync != SyncEveryAck {
		return nil
	}
	for {
		p.mu.RLock()
		hwm, serr, serrEnd, ch, closed := p.hwm, p.syncErr, p.syncErrEnd, p.waitChLocked(), p.closed
		p.mu.RUnlock()
		if hwm > last {
			return nil
		}
		if closed {
			return fmt.Errorf("partition %s: %w", p, ErrClosed)
		}
		if serr != nil && last < serrEnd {
			// The round meant to make last durable failed; a later append
			// starts a new round that retries, but this caller must know.
			return serr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("partition %s: sync offset %d: %w", p, last, ctx.Err())
		}
	}
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// Read returns whole record batches starting at the batch containing offset,
// at most maxBytes of them but always at least one whole batch if there is
// one. Data comes from one segment (the next call continues in the next) and
// is read with pread into a new buffer the caller owns; records are not kept
// in memory. Offsets below the log start or beyond the log end are
// ErrOffsetOutOfRange; offsets at or beyond the high watermark read nothing.
func (p *Partition) Read(offset int64, maxBytes int32) (ReadResult, error) {
	return p.ReadInto(nil, offset, maxBytes)
}

// ReadInto is Read with a caller-supplied buffer: if buf's capacity holds
// the data, Data is a prefix of buf[:cap(buf)], else a new buffer.
func (p *Partition) ReadInto(buf []byte, offset int64, maxBytes int32) (ReadResult, error) {
	return p.ReadAlloc(offset, maxBytes, func(n int) []byte {
		if cap(buf) >= n {
			return buf[:n]
		}
		return make([]byte, n)
	})
}

// ReadAlloc is Read with the data buffer supplied by alloc, called at most
// once with the exact number of bytes to read, and only when there is data.
// It must return a slice of length n. It lets a caller take fetch buffers
// from a size-classed pool and recycle them once the response is written.
func (p *Partition) ReadAlloc(offset int64, maxBytes int32, alloc func(n int) []byte) (ReadResult, error) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ReadResult{}, fmt.Errorf("partition %s: %w", p, ErrClosed)
	}
	res := ReadResult{HighWatermark: p.hwm, LogStartOffset: p.logStartLocked()}
	if offset < res.LogStartOffset || offset > p.leo {
		leo := p.leo
		p.mu.RUnlock()
		return res, fmt.Errorf("partition %s: %w: offset %d, log is [%d, %d)", p, ErrOffsetOutOfRange, offset, res.LogStartOffset, leo)
	}
	if offset >= p.hwm {
		p.mu.RUnlock()
		return res, nil
	}
	for {
		seg := p.segFor(offset)
		start, limit, end := seg.lookup(offset), seg.visible, seg.next
		last := seg == p.segs[len(p.segs)-1]
		seg.acquire()
		p.mu.RUnlock()
		data, err := seg.read(alloc, offset, start, limit, maxBytes)
		seg.release()
		if err != nil {
			return res, fmt.Errorf("partition %s: read offset %d: %w", p, offset, err)
		}
		if len(data) > 0 || last {
			res.Data = data
			return res, nil
		}
		// offset lies in a gap compaction left at the end of a segment:
		// read on from the next one.
		offset = end
		p.mu.RLock()
		if p.closed || offset >= p.hwm || offset < p.logStartLocked() {
			p.mu.RUnlock()
			return res, nil
		}
	}
}

// segFor returns the segment holding offset (the caller holds p.mu).
func (p *Partition) segFor(offset int64) *segment {
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > offset })
	if i == 0 {
		return p.segs[0]
	}
	return p.segs[i-1]
}

// read finds the batch containing offset at or after file position pos and
// returns whole batches from it, bounded by limit (file size visible) and
// maxBytes (but at least one batch).
func (s *segment) read(alloc func(int) []byte, offset, pos, limit int64, maxBytes int32) ([]byte, error) {
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	scratch := *sp
	found, firstSize := int64(-1), 0
	var n int64 // bytes of scratch holding the file from pos
	for found < 0 && pos+batchHeaderSize <= limit {
		n = int64(len(scratch))
		if limit-pos < n {
			n = limit - pos
		}
		if _, err := s.f.ReadAt(scratch[:n], pos); err != nil {
			return nil, fmt.Errorf("segment %d: %w", s.base, err)
		}
		off := int64(0)
		for off+batchHeaderSize <= n {
			h, err := parseHeader(scratch[off:])
			if err != nil {
				return nil, fmt.Errorf("segment %d at %d: %w", s.base, pos+off, err)
			}
			if h.baseOffset+int64(h.lastOffsetDelta) >= offset {
				found, firstSize = pos+off, h.size
				break
			}
			off += int64(h.size)
		}
		if found < 0 {
			pos += off
		}
	}
	if found < 0 {
		return nil, nil
	}
	want := limit - found
	if want > int64(maxBytes) {
		want = int64(maxBytes)
	}
	if want < int64(firstSize) {
		want = int64(firstSize)
	}
	buf := alloc(int(want))
	if found+want <= pos+n {
		copy(buf, scratch[found-pos:]) // already read while searching
	} else if _, err := s.f.ReadAt(buf, found); err != nil {
		return nil, fmt.Errorf("segment %d: %w", s.base, err)
	}
	end := 0
	for end+batchHeaderSize <= len(buf) {
		size := int(int32(binary.BigEndian.Uint32(buf[end+offBatchLength:]))) + 12
		if size < batchHeaderSize || end+size > len(buf) {
			break
		}
		end += size
	}
	return buf[:end], nil
}

// HighWatermark returns the offset after the last record consumers may see:
// the durable end in SyncEveryAck mode, else the log end.
func (p *Partition) HighWatermark() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.hwm
}

// LogEndOffset returns the offset the next appended record gets; it is
// ahead of the high watermark while an fsync is pending.
func (p *Partition) LogEndOffset() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.leo
}

// LogStartOffset returns the first offset still in the log.
func (p *Partition) LogStartOffset() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.logStartLocked()
}

// Wait returns a channel closed the next time the high watermark moves (or
// an fsync fails, or the partition is closed), for fetch long polls.
func (p *Partition) Wait() <-chan struct{} {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.waitChLocked()
}

// OffsetForTime returns the first offset at or above the log start and below
// the high watermark whose record timestamp is >= ts, with that timestamp,
// using the time index; (-1, -1) if there is none. Within a compressed or
// LogAppendTime batch it answers the batch's base offset and max timestamp.
func (p *Partition) OffsetForTime(ts int64) (offset, timestamp int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	start := p.logStartLocked()
	for _, seg := range p.segs {
		if seg.next <= start || seg.maxTs < ts || seg.visible == 0 {
			continue
		}
		from := seg.timeLookup(ts)
		if from < start {
			from = start
		}
		pos := seg.lookup(from)
		var found *batchHeader
		var fpos int64
		err := seg.forEachHeader(pos, seg.visible, func(h *batchHeader, at int64) bool {
			if h.maxTimestamp >= ts && h.baseOffset+int64(h.lastOffsetDelta) >= start {
				found, fpos = h, at
				return false
			}
			return true
		})
		if err != nil {
			p.store.log.Error("time lookup failed", "partition", p.String(), "error", err)
			return -1, -1
		}
		if found == nil {
			continue
		}
		batch := make([]byte, found.size)
		if _, err := seg.f.ReadAt(batch, fpos); err != nil {
			p.store.log.Error("time lookup failed", "partition", p.String(), "error", err)
			return -1, -1
		}
		off, t := firstTimestampAtLeast(batch, ts)
		if off < start {
			off = start
		}
		return off, t
	}
	return -1, -1
}

// MaxTimestamp returns the largest timestamp in the log and the last offset
// of the batch holding it (ListOffsets MAX_TIMESTAMP); (-1, -1) if the log
// is empty.
func (p *Partition) MaxTimestamp() (offset, timestamp int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	offset, timestamp = -1, -1
	start := p.logStartLocked()
	for _, seg := range p.segs {
		if seg.next <= start || seg.maxTsOff < 0 {
			continue
		}
		if seg.maxTs >= timestamp && seg.maxTsOff < p.hwm {
			offset, timestamp = seg.maxTsOff, seg.maxTs
		}
	}
	return offset, timestamp
}

// DeleteRecords advances the log start offset to before (-1 = the high
// watermark) and returns the new log start offset. The new start is
// persisted crash-safely; segments wholly below it are deleted. Offsets
// above the high watermark are ErrOffsetOutOfRange.
func (p *Partition) DeleteRecords(before int64) (logStart int64, err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, fmt.Errorf("partition %s: %w", p, ErrClosed)
	}
	if before == -1 {
		before = p.hwm
	}
	cur := p.logStartLocked()
	if before < 0 || before > p.hwm {
		p.mu.Unlock()
		return cur, fmt.Errorf("partition %s: delete records before %d: %w (high watermark %d)", p, before, ErrOffsetOutOfRange, p.hwm)
	}
	if before <= cur {
		p.mu.Unlock()
		return cur, nil
	}
	if err := writeFileAtomic(filepath.Join(p.dir, logStartName), []byte(strconv.FormatInt(before, 10)+"\n")); err != nil {
		p.mu.Unlock()
		return cur, fmt.Errorf("partition %s: persist log start: %w", p, err)
	}
	p.logStart = before
	drop := p.dropSegmentsLocked(time.Now(), nil)
	p.mu.Unlock()
	p.removeSegments(drop)
	return before, nil
}

// dropSegmentsLocked detaches the oldest segments that are wholly below the
// log start or, if cfg is not nil, past retention. The active segment and
// segments not wholly below the high watermark are kept.
func (p *Partition) dropSegmentsLocked(now time.Time, cfg *TopicConfig) []*segment {
	var total int64
	for _, s := range p.segs {
		total += s.size
	}
	var drop []*segment
	for len(p.segs) > 1 {
		s := p.segs[0]
		if s.next > p.hwm {
			break
		}
		ok := s.next <= p.logStart
		if !ok && cfg != nil && cfg.deletes() {
			t := s.maxTs
			if t < 0 {
				t = s.created.UnixMilli()
			}
			ok = (cfg.RetentionMs >= 0 && t < now.UnixMilli()-cfg.RetentionMs) ||
				(cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes)
		}
		if !ok {
			break
		}
		drop = append(drop, s)
		total -= s.size
		p.segs = p.segs[1:]
	}
	return drop
}

// removeSegments deletes detached segments' files; open readers keep the
// file descriptor until they release it.
func (p *Partition) removeSegments(drop []*segment) {
	for _, s := range drop {
		for _, path := range []string{s.path, s.indexPath(), s.timeIndexPath()} {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				p.store.log.Warn("cannot remove segment file", "partition", p.String(), "path", path, "error", err)
			}
		}
		s.release()
	}
	if len(drop) > 0 {
		p.store.log.Info("deleted old segments", "partition", p.String(), "count", len(drop), "first_base", drop[0].base)
	}
}

// applyRetention deletes segments past the topic's retention.
func (p *Partition) applyRetention(now time.Time) {
	cfg := p.cfg.Load()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	drop := p.dropSegmentsLocked(now, cfg)
	p.mu.Unlock()
	p.removeSegments(drop)
}

// size returns the bytes on disk of the partition's logs and indexes.
func (p *Partition) size() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n int64
	for _, s := range p.segs {
		n += s.size + int64(len(s.index))*8 + int64(len(s.tindex))*12
	}
	return n
}

// close fsyncs (unless SyncNever... always: Close promises durability) and
// closes the partition's files, writing indexes and the producer snapshot.
func (p *Partition) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var err error
	for _, s := range p.segs {
		if e := s.f.Sync(); e != nil {
			err = errors.Join(err, fmt.Errorf("partition %s: segment %d: fsync: %w", p, s.base, e))
		}
		if s == p.segs[len(p.segs)-1] {
			s.sealTimeIndex()
		}
		if e := s.writeIndexes(); e != nil {
			err = errors.Join(err, e)
		}
	}
	if e := writeSnapshot(p.dir, p.producers, p.abortedForSnapshotLocked(), p.leo); e != nil {
		err = errors.Join(err, e)
	}
	if e := fsyncDir(p.dir); e != nil {
		err = errors.Join(err, e)
	}
	if err == nil {
		// Everything is durable now: release waiters of pending syncs.
		p.hwm = p.leo
	}
	for _, s := range p.segs {
		s.release()
	}
	p.hwmChTaken.Store(true)
	p.notifyLocked()
	return err
}

// drop closes the partition without flushing and removes its directory.
func (p *Partition) drop() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, s := range p.segs {
			s.release()
		}
		p.hwmChTaken.Store(true)
		p.notifyLocked()
	}
	p.mu.Unlock()
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("partition %s: remove: %w", p, err)
	}
	return nil
}
