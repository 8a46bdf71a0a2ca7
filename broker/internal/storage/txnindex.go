package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"time"
)

// Transactions in a partition's log (see doc.go, "Transactions").
//
// A transactional batch (attribute bit 4) opens its producer's transaction
// in the partition if none is open; a control batch (bits 4 and 5) written
// by the transaction coordinator closes it, committed or aborted as its
// record's key says. The partition keeps, in memory and in the producer
// snapshot:
//
//   - per producer, the first offset of its open transaction
//     (producerState.txnFirst), and the same as a map for the last stable
//     offset: the smallest first offset of an open transaction, or the high
//     watermark when none is open (or when it is smaller);
//   - the aborted transactions index: producer id, first offset and marker
//     offset of every aborted transaction, in marker order, which
//     read_committed fetches return for the range they read.
//
// Both are rebuilt by recovery from the snapshot plus the batches after it,
// like the idempotent producer state.

// Control record types (the key's second int16).
const (
	controlAbort  = 0
	controlCommit = 1

	attrTransactional = 0x10
)

// AbortedTxn is an aborted transaction of one producer in a partition: its
// records lie in [FirstOffset, LastOffset), LastOffset being the abort
// marker.
type AbortedTxn struct {
	ProducerID, FirstOffset, LastOffset int64
}

// txnIndex is a partition's transaction bookkeeping, guarded by p.mu.
type txnIndex struct {
	open    map[int64]int64 // producer id -> first offset of its open transaction
	aborted []AbortedTxn    // by LastOffset
}

func (h *batchHeader) transactional() bool { return h.attributes&attrTransactional != 0 }
func (h *batchHeader) control() bool       { return h.attributes&attrControl != 0 }

// controlType returns the type of the control record at the start of a
// control batch's records (uncompressed, as Kafka writes them): 0 abort, 1
// commit, or -1 if it cannot be read.
func controlType(batch []byte) int16 {
	if len(batch) < batchHeaderSize+1 {
		return -1
	}
	b := batch[batchHeaderSize:]
	_, w := binary.Varint(b) // record length
	if w <= 0 || len(b) < w+1 {
		return -1
	}
	b = b[w+1:]              // attributes
	for i := 0; i < 2; i++ { // timestamp delta, offset delta
		if _, w = binary.Varint(b); w <= 0 {
			return -1
		}
		b = b[w:]
	}
	kl, w := binary.Varint(b)
	if w <= 0 || kl < 4 || int64(len(b)-w) < kl {
		return -1
	}
	key := b[w:]
	return int16(binary.BigEndian.Uint16(key[2:]))
}

// trackTxnLocked updates the transaction bookkeeping for one appended or
// replayed batch at offset base; batch holds the whole batch for a control
// batch (nil otherwise). The caller holds p.mu.
func (p *Partition) trackTxnLocked(h *batchHeader, base int64, batch []byte) {
	if !h.transactional() || h.producerID < 0 {
		return
	}
	if p.txns.open == nil {
		p.txns.open = make(map[int64]int64)
	}
	if h.control() {
		applyProducerBatch(p.producers, h, base)
	}
	st := p.producers[h.producerID]
	if st == nil {
		return
	}
	if !h.control() {
		if st.txnFirst < 0 {
			st.txnFirst = base
			p.txns.open[h.producerID] = base
		}
		return
	}
	if st.txnFirst < 0 {
		return
	}
	if controlType(batch) == controlAbort {
		p.txns.aborted = append(p.txns.aborted, AbortedTxn{ProducerID: h.producerID, FirstOffset: st.txnFirst, LastOffset: base})
	}
	st.txnFirst = -1
	delete(p.txns.open, h.producerID)
}

// replayTxnLocked is trackTxnLocked for a batch found by recovery at file
// position pos of seg: a control batch is read back to learn its type.
func (p *Partition) replayTxnLocked(seg *segment, h *batchHeader, pos int64) error {
	if !h.transactional() {
		return nil
	}
	var batch []byte
	if h.control() {
		batch = make([]byte, min(h.size, 256))
		if _, err := seg.f.ReadAt(batch, pos); err != nil {
			return fmt.Errorf("segment %d: read control batch at %d: %w", seg.base, pos, err)
		}
	}
	p.trackTxnLocked(h, h.baseOffset, batch)
	return nil
}

// restoreOpenTxnsLocked fills the open-transaction map from the producer
// table after recovery.
func (p *Partition) restoreOpenTxnsLocked() {
	p.txns.open = make(map[int64]int64)
	for id, st := range p.producers {
		if st.txnFirst >= 0 {
			p.txns.open[id] = st.txnFirst
		}
	}
}

// abortedForSnapshotLocked returns the aborted index without the entries
// wholly below the log start, which no fetch can reach any more.
func (p *Partition) abortedForSnapshotLocked() []AbortedTxn {
	start := p.logStartLocked()
	i := sort.Search(len(p.txns.aborted), func(i int) bool { return p.txns.aborted[i].LastOffset >= start })
	p.txns.aborted = p.txns.aborted[i:]
	return p.txns.aborted
}

func (p *Partition) lsoLocked() int64 {
	lso := p.hwm
	for _, first := range p.txns.open {
		if first < lso {
			lso = first
		}
	}
	return lso
}

// LastStableOffset returns the offset below which every transaction is
// decided: the first offset of the oldest open transaction, or the high
// watermark if that is smaller or none is open. read_committed consumers
// read below it.
func (p *Partition) LastStableOffset() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.lsoLocked()
}

// HasOpenTxn reports whether producerID has an open transaction here.
func (p *Partition) HasOpenTxn(producerID int64) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.txns.open[producerID]
	return ok
}

// AbortedTxns returns the aborted transactions with records in [from, to):
// those whose marker is at or after from and whose first offset is below to.
func (p *Partition) AbortedTxns(from, to int64) []AbortedTxn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	a := p.txns.aborted
	i := sort.Search(len(a), func(i int) bool { return a[i].LastOffset >= from })
	var out []AbortedTxn
	for _, t := range a[i:] {
		if t.FirstOffset < to {
			out = append(out, t)
		}
	}
	return out
}

// ReadCommittedAlloc is ReadAlloc for read_committed consumers: only whole
// batches below the last stable offset, which it also returns.
func (p *Partition) ReadCommittedAlloc(offset int64, maxBytes int32, alloc func(n int) []byte) (ReadResult, int64, error) {
	p.mu.RLock()
	lso := p.lsoLocked()
	if offset >= lso {
		// Nothing decided to read yet; the range checks of a read still apply.
		res := ReadResult{HighWatermark: p.hwm, LogStartOffset: p.logStartLocked()}
		closed, leo := p.closed, p.leo
		p.mu.RUnlock()
		switch {
		case closed:
			return res, lso, fmt.Errorf("partition %s: %w", p, ErrClosed)
		case offset < res.LogStartOffset || offset > leo:
			return res, lso, fmt.Errorf("partition %s: %w: offset %d, log is [%d, %d)", p, ErrOffsetOutOfRange, offset, res.LogStartOffset, leo)
		}
		return res, lso, nil
	}
	p.mu.RUnlock()
	res, err := p.ReadAlloc(offset, maxBytes, alloc)
	if err != nil {
		return res, lso, err
	}
	end := 0
	for end+batchHeaderSize <= len(res.Data) {
		b := res.Data[end:]
		if int64(binary.BigEndian.Uint64(b[offBaseOffset:])) >= lso {
			break
		}
		end += int(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + 12
	}
	res.Data = res.Data[:end]
	return res, lso, nil
}

// markerBatch builds a control batch ending producerID's transaction.
func markerBatch(producerID int64, epoch int16, commit bool, now int64) []byte {
	typ := uint16(controlAbort)
	if commit {
		typ = controlCommit
	}
	be := binary.BigEndian
	// One record: attributes, timestamp delta, offset delta, key (version 0,
	// type), value (version 0, coordinator epoch 0), no headers.
	var rec []byte
	rec = append(rec, 0)
	rec = binary.AppendVarint(rec, 0)
	rec = binary.AppendVarint(rec, 0)
	rec = binary.AppendVarint(rec, 4)
	rec = be.AppendUint16(rec, 0)
	rec = be.AppendUint16(rec, typ)
	rec = binary.AppendVarint(rec, 6)
	rec = be.AppendUint16(rec, 0)
	rec = be.AppendUint32(rec, 0)
	rec = binary.AppendVarint(rec, 0)
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(rec)+2)
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	be.PutUint32(b[offBatchLength:], uint32(len(b)-12))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], attrTransactional|attrControl)
	be.PutUint64(b[offBaseTimestamp:], uint64(now))
	be.PutUint64(b[offMaxTimestamp:], uint64(now))
	be.PutUint64(b[offProducerID:], uint64(producerID))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], 1)
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b
}

// WriteMarker ends producerID's open transaction in the partition with a
// commit or abort control batch at epoch (the coordinator's, at least the
// producer's last here; a higher one fences the producer's older epochs)
// and returns the marker's offset; wait for durability with Sync. Without
// an open transaction of producerID nothing is written and -1 returned.
func (p *Partition) WriteMarker(producerID int64, epoch int16, commit bool) (int64, error) {
	if !p.HasOpenTxn(producerID) {
		return -1, nil
	}
	res, err := p.Append(markerBatch(producerID, epoch, commit, time.Now().UnixMilli()))
	if err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// expireProducers forgets idempotent producers with no open transaction
// whose newest batch timestamp is older than now-idle
// (producer.id.expiration.ms) and returns how many it forgot.
func (p *Partition) expireProducers(now time.Time, idle time.Duration) int {
	cut := now.Add(-idle).UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for id, st := range p.producers {
		if st.txnFirst < 0 && st.lastTs < cut {
			delete(p.producers, id)
			n++
		}
	}
	return n
}

// ExpireProducers runs producer.id.expiration.ms over every partition as of
// now (the retention loop calls it with the wall clock; tests with their
// own) and returns how many producer states were forgotten.
func (s *Store) ExpireProducers(now time.Time) int {
	n := 0
	for _, p := range s.allPartitions() {
		n += p.expireProducers(now, s.opts.ProducerIDExpiration)
	}
	return n
}
