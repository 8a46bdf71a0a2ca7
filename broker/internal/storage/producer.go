package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// producerWindow is how many recent batches per producer are remembered for
// duplicate detection (Kafka's max.in.flight.requests.per.connection limit
// for idempotent producers).
const producerWindow = 5

// producerBatch records where one idempotent batch landed.
type producerBatch struct {
	firstSeq, lastSeq      int32
	baseOffset, lastOffset int64
}

// producerState is what a partition remembers about one idempotent producer.
type producerState struct {
	epoch  int16
	n      int // used entries of recent, oldest first (0 after a marker of a new epoch)
	recent [producerWindow]producerBatch
	// lastTs is the largest batch max timestamp (ms) seen from the
	// producer, for producer.id.expiration.ms.
	lastTs int64
	// txnFirst is the first offset of the producer's open transaction in
	// this partition, or -1 (see txnindex.go).
	txnFirst int64
}

func (s *producerState) last() *producerBatch { return &s.recent[s.n-1] }

func (s *producerState) push(b producerBatch) {
	if s.n == producerWindow {
		copy(s.recent[:], s.recent[1:])
		s.n--
	}
	s.recent[s.n] = b
	s.n++
}

// seqCheck is the outcome of checking one batch against producer state.
type seqCheck int

const (
	seqAppend seqCheck = iota
	seqDuplicate
)

// check decides whether batch h of a producer whose state is st (nil if
// unknown) is new, a duplicate of a remembered batch (dup is set), or an
// error.
func checkSequence(st *producerState, h *batchHeader) (seqCheck, producerBatch, error) {
	if st != nil && h.producerEpoch < st.epoch {
		return 0, producerBatch{}, fmt.Errorf("%w: producer %d epoch %d, current %d", ErrInvalidProducerEpoch, h.producerID, h.producerEpoch, st.epoch)
	}
	if st == nil || st.n == 0 {
		if h.baseSequence != 0 {
			return 0, producerBatch{}, fmt.Errorf("%w: producer %d has no state here and sent sequence %d", ErrUnknownProducerID, h.producerID, h.baseSequence)
		}
		return seqAppend, producerBatch{}, nil
	}
	switch {
	case h.producerEpoch < st.epoch:
		return 0, producerBatch{}, fmt.Errorf("%w: producer %d epoch %d, current %d", ErrInvalidProducerEpoch, h.producerID, h.producerEpoch, st.epoch)
	case h.producerEpoch > st.epoch:
		if h.baseSequence != 0 {
			return 0, producerBatch{}, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.producerID, h.producerEpoch, h.baseSequence)
		}
		return seqAppend, producerBatch{}, nil
	}
	for i := 0; i < st.n; i++ {
		r := st.recent[i]
		if r.firstSeq == h.baseSequence && r.lastSeq == h.lastSequence() {
			return seqDuplicate, r, nil
		}
	}
	next := st.last().lastSeq + 1
	if st.last().lastSeq == 1<<31-1 {
		next = 0
	}
	if h.baseSequence != next {
		return 0, producerBatch{}, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", ErrOutOfOrderSequence, h.producerID, h.producerEpoch, h.baseSequence, next)
	}
	return seqAppend, producerBatch{}, nil
}

// apply records an appended batch (already assigned its offsets) in the
// producer table, creating or resetting state on a new epoch.
func applyProducerBatch(m map[int64]*producerState, h *batchHeader, base int64) {
	st := m[h.producerID]
	if st == nil {
		st = &producerState{epoch: h.producerEpoch, txnFirst: -1}
		m[h.producerID] = st
	}
	if h.producerEpoch != st.epoch {
		*st = producerState{epoch: h.producerEpoch, txnFirst: st.txnFirst, lastTs: st.lastTs}
	}
	st.lastTs = max(st.lastTs, h.maxTimestamp)
	if h.attributes&attrControl != 0 {
		// A transaction marker carries no sequence: it only moves the epoch
		// (a coordinator's fencing bump), keeping the window otherwise.
		return
	}
	st.push(producerBatch{
		firstSeq:   h.baseSequence,
		lastSeq:    h.lastSequence(),
		baseOffset: base,
		lastOffset: base + int64(h.lastOffsetDelta),
	})
}

// Producer snapshot file ("producers.snapshot" in a partition directory),
// version 2 (version 1, without lastTs, txnFirst and the aborted list, is
// still read):
//
//	magic    "FMPS" (4 bytes)
//	version  uint16 = 2
//	offset   int64: the snapshot covers every batch below this offset
//	count    uint32: number of producers
//	count times:
//	  producerID int64, epoch int16, lastTs int64, txnFirst int64 (-1: none),
//	  n uint8 (0..5),
//	  n times: firstSeq int32, lastSeq int32, baseOffset int64, lastOffset int64
//	aborted  uint32: number of aborted transactions, then each:
//	  producerID int64, firstOffset int64, lastOffset int64 (the marker)
//	crc      uint32: CRC-32C of everything before it
//
// All integers big endian. A missing, torn or stale snapshot is ignored and
// the state rebuilt from the log's batch headers.
const snapshotName = "producers.snapshot"

func encodeSnapshot(m map[int64]*producerState, aborted []AbortedTxn, offset int64) []byte {
	be := binary.BigEndian
	b := make([]byte, 0, 22+len(m)*(27+producerWindow*24)+len(aborted)*24+4)
	b = append(b, "FMPS"...)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint64(b, uint64(offset))
	b = be.AppendUint32(b, uint32(len(m)))
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		st := m[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(st.epoch))
		b = be.AppendUint64(b, uint64(st.lastTs))
		b = be.AppendUint64(b, uint64(st.txnFirst))
		b = append(b, byte(st.n))
		for i := 0; i < st.n; i++ {
			r := st.recent[i]
			b = be.AppendUint32(b, uint32(r.firstSeq))
			b = be.AppendUint32(b, uint32(r.lastSeq))
			b = be.AppendUint64(b, uint64(r.baseOffset))
			b = be.AppendUint64(b, uint64(r.lastOffset))
		}
	}
	b = be.AppendUint32(b, uint32(len(aborted)))
	for _, a := range aborted {
		b = be.AppendUint64(b, uint64(a.ProducerID))
		b = be.AppendUint64(b, uint64(a.FirstOffset))
		b = be.AppendUint64(b, uint64(a.LastOffset))
	}
	return be.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errBadSnapshot = errors.New("bad producer snapshot")

func decodeSnapshot(b []byte) (map[int64]*producerState, []AbortedTxn, int64, error) {
	be := binary.BigEndian
	if len(b) < 22 || string(b[:4]) != "FMPS" {
		return nil, nil, 0, errBadSnapshot
	}
	version := be.Uint16(b[4:])
	if version != 1 && version != 2 {
		return nil, nil, 0, errBadSnapshot
	}
	body, sum := b[:len(b)-4], be.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, nil, 0, errBadSnapshot
	}
	offset := int64(be.Uint64(b[6:]))
	count := be.Uint32(b[14:])
	p := body[18:]
	fixed, minN := 11, 1
	if version == 2 {
		fixed, minN = 27, 0
	}
	if uint64(count)*uint64(fixed) > uint64(len(p)) {
		return nil, nil, 0, errBadSnapshot
	}
	m := make(map[int64]*producerState, count)
	for i := uint32(0); i < count; i++ {
		if len(p) < fixed {
			return nil, nil, 0, errBadSnapshot
		}
		id := int64(be.Uint64(p))
		st := &producerState{epoch: int16(be.Uint16(p[8:])), txnFirst: -1}
		if version == 2 {
			st.lastTs = int64(be.Uint64(p[10:]))
			st.txnFirst = int64(be.Uint64(p[18:]))
		}
		st.n = int(p[fixed-1])
		p = p[fixed:]
		if st.n < minN || st.n > producerWindow || len(p) < st.n*24 {
			return nil, nil, 0, errBadSnapshot
		}
		for j := 0; j < st.n; j++ {
			st.recent[j] = producerBatch{
				firstSeq:   int32(be.Uint32(p)),
				lastSeq:    int32(be.Uint32(p[4:])),
				baseOffset: int64(be.Uint64(p[8:])),
				lastOffset: int64(be.Uint64(p[16:])),
			}
			p = p[24:]
		}
		if version == 1 {
			st.lastTs = time.Now().UnixMilli() // unknown: the expiry clock starts now
		}
		m[id] = st
	}
	var aborted []AbortedTxn
	if version == 2 {
		if len(p) < 4 {
			return nil, nil, 0, errBadSnapshot
		}
		na := be.Uint32(p)
		p = p[4:]
		if uint64(na)*24 != uint64(len(p)) {
			return nil, nil, 0, errBadSnapshot
		}
		aborted = make([]AbortedTxn, na)
		for i := range aborted {
			aborted[i] = AbortedTxn{ProducerID: int64(be.Uint64(p)), FirstOffset: int64(be.Uint64(p[8:])), LastOffset: int64(be.Uint64(p[16:]))}
			p = p[24:]
		}
	}
	if len(p) != 0 {
		return nil, nil, 0, errBadSnapshot
	}
	return m, aborted, offset, nil
}

// writeSnapshot writes the producer table atomically (temp file, rename). It
// is a cache: it is not fsynced, since a lost snapshot is rebuilt by a scan.
func writeSnapshot(dir string, m map[int64]*producerState, aborted []AbortedTxn, offset int64) error {
	tmp := filepath.Join(dir, snapshotName+".tmp")
	if err := os.WriteFile(tmp, encodeSnapshot(m, aborted, offset), 0o644); err != nil {
		return fmt.Errorf("write producer snapshot: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, snapshotName)); err != nil {
		return fmt.Errorf("rename producer snapshot: %w", err)
	}
	return nil
}
