package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// indexInterval is the number of log bytes between sparse index entries.
// The indexes live in the heap (about 24 bytes per entry with the time
// index), so the interval sets how memory grows with retained data: 16 KiB
// costs about 1.5 MiB per GiB. A lookup reads from the entry before the
// offset, usually within one 16 KiB read.
const indexInterval = 16 << 10

type indexEntry struct {
	rel uint32 // offset - segment base
	pos uint32 // byte position of the batch in the .log file
}

type timeEntry struct {
	ts  int64  // largest timestamp in the segment up to this point
	rel uint32 // offset of the record batch holding ts, minus the base
}

// segment is one .log file with its sparse indexes. Fields other than the
// immutable base, paths and f are guarded by the owning partition's mutex.
type segment struct {
	base int64
	path string // .log path; the indexes sit beside it
	f    *os.File

	size    int64 // bytes written
	visible int64 // bytes readers may see (durable in SyncEveryAck mode)
	next    int64 // offset after the last batch

	index        []indexEntry
	tindex       []timeEntry
	lastIndexPos int64
	indexDirty   bool
	maxTs        int64 // -1 if no batch
	maxTsOff     int64
	created      time.Time
	unsynced     bool // written since its last fsync
	gaps         bool // offsets may skip between batches (a closed, possibly compacted segment)
	refs         atomic.Int32
	closeOnce    atomic.Bool
}

func segmentName(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.log", base))
}

func (s *segment) indexPath() string     { return s.path[:len(s.path)-4] + ".index" }
func (s *segment) timeIndexPath() string { return s.path[:len(s.path)-4] + ".timeindex" }

func newSegmentStruct(path string, base int64, f *os.File) *segment {
	s := &segment{base: base, path: path, f: f, next: base, maxTs: -1, maxTsOff: -1, created: time.Now()}
	s.refs.Store(1)
	return s
}

// createSegment creates an empty segment file (its directory must still be
// fsynced by the caller before data in it is acknowledged).
func createSegment(dir string, base int64) (*segment, error) {
	path := segmentName(dir, base)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment %d: create: %w", base, err)
	}
	for _, p := range []string{path[:len(path)-4] + ".index", path[:len(path)-4] + ".timeindex"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.Close()
			return nil, fmt.Errorf("segment %d: remove stale index: %w", base, err)
		}
	}
	return newSegmentStruct(path, base, f), nil
}

// acquire takes a reference for a reader; the caller holds the partition lock.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the file.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 && s.closeOnce.CompareAndSwap(false, true) {
		s.f.Close()
	}
}

// observe updates the segment's bookkeeping for a batch written at pos with
// the given broker-assigned base offset.
func (s *segment) observe(h *batchHeader, pos int64, base int64) {
	if pos > 0 && pos-s.lastIndexPos >= indexInterval {
		rel := uint32(base - s.base)
		s.index = append(s.index, indexEntry{rel: rel, pos: uint32(pos)})
		s.lastIndexPos = pos
		if s.maxTs >= 0 && (len(s.tindex) == 0 || s.maxTs > s.tindex[len(s.tindex)-1].ts) {
			s.tindex = append(s.tindex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
		}
		s.indexDirty = true
	}
	last := base + int64(h.lastOffsetDelta)
	if h.maxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.maxTimestamp, last
	}
	s.size = pos + int64(h.size)
	s.next = last + 1
}

// sealTimeIndex adds a final time index entry for the segment's max
// timestamp, so a closed segment's time index ends with its maximum.
func (s *segment) sealTimeIndex() {
	if s.maxTs >= 0 && (len(s.tindex) == 0 || s.maxTs > s.tindex[len(s.tindex)-1].ts) {
		s.tindex = append(s.tindex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
		s.indexDirty = true
	}
}

// lookup returns the file position of the last indexed batch at or before
// offset.
func (s *segment) lookup(offset int64) int64 {
	rel := offset - s.base
	lo, hi := 0, len(s.index)
	for lo < hi {
		m := (lo + hi) / 2
		if int64(s.index[m].rel) <= rel {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0
	}
	return int64(s.index[lo-1].pos)
}

// timeLookup returns the offset from which a scan for the first timestamp
// >= ts must start: every batch before it has a smaller max timestamp.
func (s *segment) timeLookup(ts int64) int64 {
	lo, hi := 0, len(s.tindex)
	for lo < hi {
		m := (lo + hi) / 2
		if s.tindex[m].ts < ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return s.base
	}
	return s.base + int64(s.tindex[lo-1].rel)
}

// writeIndexes writes the in-memory indexes to their files. The index files
// are a cache of the log: they are rewritten whole and not fsynced, and
// recovery rebuilds them when they do not match.
func (s *segment) writeIndexes() error {
	if !s.indexDirty {
		return nil
	}
	be := binary.BigEndian
	ib := make([]byte, 0, len(s.index)*8)
	for _, e := range s.index {
		ib = be.AppendUint32(ib, e.rel)
		ib = be.AppendUint32(ib, e.pos)
	}
	tb := make([]byte, 0, len(s.tindex)*12)
	for _, e := range s.tindex {
		tb = be.AppendUint64(tb, uint64(e.ts))
		tb = be.AppendUint32(tb, e.rel)
	}
	if err := os.WriteFile(s.indexPath(), ib, 0o644); err != nil {
		return fmt.Errorf("segment %d: write index: %w", s.base, err)
	}
	if err := os.WriteFile(s.timeIndexPath(), tb, 0o644); err != nil {
		return fmt.Errorf("segment %d: write time index: %w", s.base, err)
	}
	s.indexDirty = false
	return nil
}

// loadIndexes reads the index files of a closed segment and checks them
// against the log file of the given size. It reports false if they are
// missing or do not fit, in which case the caller rescans the log.
func (s *segment) loadIndexes(size int64) bool {
	be := binary.BigEndian
	ib, err := os.ReadFile(s.indexPath())
	if err != nil || len(ib)%8 != 0 {
		return false
	}
	tb, err := os.ReadFile(s.timeIndexPath())
	if err != nil || len(tb)%12 != 0 {
		return false
	}
	idx := make([]indexEntry, len(ib)/8)
	for i := range idx {
		idx[i] = indexEntry{rel: be.Uint32(ib[i*8:]), pos: be.Uint32(ib[i*8+4:])}
		if int64(idx[i].pos) >= size || idx[i].pos == 0 || (i > 0 && (idx[i].rel <= idx[i-1].rel || idx[i].pos <= idx[i-1].pos)) {
			return false
		}
	}
	tidx := make([]timeEntry, len(tb)/12)
	for i := range tidx {
		tidx[i] = timeEntry{ts: int64(be.Uint64(tb[i*12:])), rel: be.Uint32(tb[i*12+8:])}
		if i > 0 && tidx[i].ts <= tidx[i-1].ts {
			return false
		}
	}
	if len(idx) > 0 {
		var hdr [batchHeaderSize]byte
		e := idx[len(idx)-1]
		if _, err := s.f.ReadAt(hdr[:], int64(e.pos)); err != nil {
			return false
		}
		if int64(be.Uint64(hdr[:])) != s.base+int64(e.rel) {
			return false
		}
	}
	s.index, s.tindex = idx, tidx
	if len(idx) > 0 {
		s.lastIndexPos = int64(idx[len(idx)-1].pos)
	}
	if len(tidx) > 0 {
		t := tidx[len(tidx)-1]
		s.maxTs, s.maxTsOff = t.ts, s.base+int64(t.rel)
	}
	return true
}

// walkTail walks the batch headers from the last index entry to the end of
// the file (without CRC checks) to find the segment's end offset and the
// max timestamp of the unindexed tail. It reports false if the headers do not
// end exactly at size.
func (s *segment) walkTail(size int64) bool {
	pos := s.lastIndexPos
	var hdr [batchHeaderSize]byte
	expect := int64(-1)
	if pos == 0 {
		expect = s.base
	}
	for pos < size {
		if size-pos < batchHeaderSize {
			return false
		}
		if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
			return false
		}
		h, err := parseHeader(hdr[:])
		if err != nil || pos+int64(h.size) > size {
			return false
		}
		if expect >= 0 && (h.baseOffset < expect || (!s.gaps && h.baseOffset != expect)) {
			return false
		}
		last := h.baseOffset + int64(h.lastOffsetDelta)
		if h.maxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = h.maxTimestamp, last
		}
		expect = last + 1
		pos += int64(h.size)
	}
	if expect < 0 {
		return false
	}
	s.next = expect
	s.size = size
	return true
}

// Buffers for recovery scans, shared so that opening many partitions does
// not allocate a buffer per segment.
var (
	scanReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}
	scanBufs    = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
)

// scan reads the whole log file from the start, checking every batch's
// length, magic, CRC and offset continuity, and rebuilds the indexes. It
// returns the size of the valid prefix; fn, if not nil, sees every valid
// batch. A torn or corrupt tail is reported as valid < file size.
func (s *segment) scan(fn func(h *batchHeader, base int64)) (valid int64, err error) {
	s.index, s.tindex = nil, nil
	s.lastIndexPos, s.maxTs, s.maxTsOff = 0, -1, -1
	s.size, s.next = 0, s.base
	s.indexDirty = true
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("segment %d: seek: %w", s.base, err)
	}
	r := scanReaders.Get().(*bufio.Reader)
	r.Reset(s.f)
	defer func() { r.Reset(nil); scanReaders.Put(r) }()
	bp := scanBufs.Get().(*[]byte)
	defer func() {
		if len(*bp) <= 2<<20 {
			scanBufs.Put(bp)
		}
	}()
	buf := *bp
	var pos int64
	for {
		if _, err := io.ReadFull(r, buf[:batchHeaderSize]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return pos, nil
			}
			return pos, fmt.Errorf("segment %d: read: %w", s.base, err)
		}
		h, err := parseHeader(buf[:batchHeaderSize])
		if err != nil || h.baseOffset < s.next || (!s.gaps && h.baseOffset != s.next) {
			return pos, nil
		}
		if h.size > len(buf) {
			nb := make([]byte, h.size)
			copy(nb, buf[:batchHeaderSize])
			buf = nb
			*bp = nb
		}
		if _, err := io.ReadFull(r, buf[batchHeaderSize:h.size]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return pos, nil
			}
			return pos, fmt.Errorf("segment %d: read: %w", s.base, err)
		}
		if checkCRC(buf[:h.size]) != nil {
			return pos, nil
		}
		s.observe(&h, pos, h.baseOffset)
		if fn != nil {
			fn(&h, h.baseOffset)
		}
		pos += int64(h.size)
	}
}

// forEachHeader calls fn for every batch header in [from, to) of the file.
func (s *segment) forEachHeader(from, to int64, fn func(h *batchHeader, pos int64) bool) error {
	var hdr [batchHeaderSize]byte
	for pos := from; pos+batchHeaderSize <= to; {
		if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
			return fmt.Errorf("segment %d: read header at %d: %w", s.base, pos, err)
		}
		h, err := parseHeader(hdr[:])
		if err != nil {
			return fmt.Errorf("segment %d: header at %d: %w", s.base, pos, err)
		}
		if !fn(&h, pos) {
			return nil
		}
		pos += int64(h.size)
	}
	return nil
}

// fsyncDir fsyncs a directory so that entries created or renamed in it are
// durable.
func fsyncDir(dir string) error {
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

// writeFileAtomic writes data to path crash-safely: temp file, fsync,
// rename, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temp for %s: %w", path, err)
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("fsync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("rename %s: %w", name, err)
	}
	return fsyncDir(dir)
}
