package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kv is one record for buildKV: a nil key or value encodes null.
type kv struct {
	key, value []byte
}

// batchOpts describes the batch buildKV encodes.
type batchOpts struct {
	ts      int64
	codec   int8 // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
	pid     int64
	seq     int32
	txn     bool
	control bool
}

// buildKV encodes a record batch of the given records (record i at
// timestamp ts+i), compressed with codec.
func buildKV(o batchOpts, recs []kv) []byte {
	var records []byte
	for i, r := range recs {
		rec := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: r.key, Value: r.value}
		body := rec.AppendTo(nil)
		rec.Length = int32(len(body) - 1)
		records = rec.AppendTo(records)
	}
	attrs := int16(o.codec)
	if o.txn {
		attrs |= attrTransactional
	}
	if o.control {
		attrs |= attrControl | attrTransactional
	}
	if o.codec != 0 {
		var err error
		if records, err = compressRecords(o.codec, records); err != nil {
			panic(err)
		}
	}
	if o.pid == 0 {
		o.pid, o.seq = -1, -1
	}
	rb := kmsg.RecordBatch{
		Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: o.ts, MaxTimestamp: o.ts + int64(len(recs)-1),
		ProducerID: o.pid, ProducerEpoch: 0, FirstSequence: o.seq,
		NumRecords: int32(len(recs)), Records: records,
	}
	if o.pid < 0 {
		rb.ProducerEpoch = -1
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crcTable))
	return b
}

// got is one record as read back.
type got struct {
	offset int64
	ts     int64
	key    string
	value  []byte // nil: tombstone
}

// readRecords reads every visible record of p from its log start,
// checking that offsets only grow.
func readRecords(t *testing.T, p *Partition) []got {
	t.Helper()
	var out []got
	last := int64(-1)
	for _, b := range readGaps(t, p) {
		h, _ := parseHeader(b)
		if h.attributes&attrControl != 0 {
			continue
		}
		base := int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
		if err := eachRecord(b, func(r *record) {
			off := h.baseOffset + int64(r.offsetDelta)
			if off <= last {
				t.Fatalf("offset %d after %d", off, last)
			}
			last = off
			g := got{offset: off, ts: base + r.tsDelta, key: string(r.key)}
			if !r.nullValue {
				v, _ := valueOf(r)
				g.value = append([]byte{}, v...)
			}
			out = append(out, g)
		}); err != nil {
			t.Fatalf("decode batch at %d: %v", h.baseOffset, err)
		}
	}
	return out
}

// readGaps reads every visible batch from the log start, as a consumer of
// a compacted log does: a batch may start after the offset asked for.
func readGaps(t *testing.T, p *Partition) [][]byte {
	t.Helper()
	var out [][]byte
	next := p.LogStartOffset()
	for {
		res, err := p.Read(next, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if len(res.Data) == 0 {
			if next < res.HighWatermark {
				t.Fatalf("empty read at %d below high watermark %d", next, res.HighWatermark)
			}
			return out
		}
		hs, err := parseBatches(res.Data, nil)
		if err != nil {
			t.Fatalf("read %d returned bad batches: %v", next, err)
		}
		for _, h := range hs {
			if end := h.baseOffset + int64(h.lastOffsetDelta); end < next {
				if len(out) > 0 || h.baseOffset > next {
					t.Fatalf("batch [%d, %d] before the offset %d asked for", h.baseOffset, end, next)
				}
				continue
			}
			out = append(out, res.Data[h.pos:h.pos+h.size])
			next = h.baseOffset + int64(h.lastOffsetDelta) + 1
		}
	}
}

// valueOf extracts a record's value.
func valueOf(r *record) ([]byte, bool) {
	p := r.afterTs
	_, n := binary.Varint(p)
	p = p[n:]
	kl, n := binary.Varint(p)
	p = p[n:]
	if kl > 0 {
		p = p[kl:]
	}
	vl, n := binary.Varint(p)
	if vl < 0 {
		return nil, false
	}
	return p[n : n+int(vl)], true
}

type manualClock struct{ ms atomic.Int64 }

func (c *manualClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *manualClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func openCompactStore(t *testing.T, dir string, clk *manualClock) *Store {
	t.Helper()
	opts := Options{Dir: dir, RetentionCheckInterval: time.Hour, CompactionCheckInterval: time.Hour, Logger: quietLogger()}
	if clk != nil {
		opts.Clock = clk.now
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func compact(t *testing.T, s *Store) CompactionResult {
	t.Helper()
	res, err := s.Compact()
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return res
}

// model is what was appended: every record by offset.
type model struct {
	byOffset map[int64]kv
	latest   map[string]int64 // key -> offset of its newest record
}

func newModel() *model { return &model{byOffset: map[int64]kv{}, latest: map[string]int64{}} }

func (m *model) add(base int64, recs []kv) {
	for i, r := range recs {
		m.byOffset[base+int64(i)] = r
		m.latest[string(r.key)] = base + int64(i)
	}
}

// check verifies what p holds against the model: every record read is the
// one appended at its offset; the newest record of every key is there
// (tombstones until removed); below cleanedTo no key appears twice.
func (m *model) check(t *testing.T, p *Partition, cleanedTo int64, tombstonesGone bool) []got {
	t.Helper()
	recs := readRecords(t, p)
	seen := map[string]int64{}
	for _, g := range recs {
		want, ok := m.byOffset[g.offset]
		if !ok || string(want.key) != g.key || !bytes.Equal(want.value, g.value) || (want.value == nil) != (g.value == nil) {
			t.Fatalf("offset %d holds %q=%q, appended %q=%q", g.offset, g.key, g.value, want.key, want.value)
		}
		if prev, dup := seen[g.key]; dup && g.offset < cleanedTo {
			t.Fatalf("key %q at %d and %d below the cleaned offset %d", g.key, prev, g.offset, cleanedTo)
		}
		seen[g.key] = g.offset
	}
	for k, off := range m.latest {
		if m.byOffset[off].value == nil && tombstonesGone && off < cleanedTo {
			if _, ok := seen[k]; ok {
				t.Fatalf("tombstone of %q at %d not removed", k, off)
			}
			continue
		}
		if seen[k] != off {
			t.Fatalf("newest record of %q (offset %d) missing; last seen at %d", k, off, seen[k])
		}
	}
	return recs
}

func activeBase(p *Partition) int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.segs[len(p.segs)-1].base
}

// TestCompactKeepsNewestPerKey is a property test against a map model:
// random keyed appends (tombstones among them, compressed and not) over
// many small segments, compacted between rounds; each time the newest
// record of every key is there, every record read is the one appended at
// its offset, no key appears twice in the cleaned range, and it all holds
// again after a reopen.
func TestCompactKeepsNewestPerKey(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			dir := t.TempDir()
			clk := &manualClock{}
			clk.ms.Store(1_700_000_000_000)
			s := openCompactStore(t, dir, clk)
			p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01"})
			m := newModel()
			keys := 5 + rng.IntN(40)
			for round := 0; round < 6; round++ {
				for i := 0; i < 60; i++ {
					n := 1 + rng.IntN(6)
					recs := make([]kv, n)
					for j := range recs {
						recs[j].key = []byte(fmt.Sprintf("k%03d", rng.IntN(keys)))
						if rng.IntN(10) > 0 {
							recs[j].value = []byte(fmt.Sprintf("v%d-%d-%d", round, i, j))
						}
					}
					res := appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load(), codec: int8(rng.IntN(5))}, recs))
					m.add(res.BaseOffset, recs)
				}
				compact(t, s)
				m.check(t, p, activeBase(p), false)
			}
			before := readRecords(t, p)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openCompactStore(t, dir, clk)
			p, _ = s.Partition("c", 0)
			after := m.check(t, p, 0, false)
			if len(after) != len(before) {
				t.Fatalf("reopen: %d records, before %d", len(after), len(before))
			}
			if len(before) >= len(m.byOffset) {
				t.Fatalf("nothing compacted: %d of %d records left", len(before), len(m.byOffset))
			}
			// New appends continue the offsets.
			res := appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load()}, []kv{{[]byte("k000"), []byte("last")}}))
			if want := int64(len(m.byOffset)); res.BaseOffset != want {
				t.Fatalf("append after reopen at %d, want %d", res.BaseOffset, want)
			}
		})
	}
}

// TestCompactTombstonesAfterDeleteRetention checks Kafka's tombstone
// semantics with a controllable clock: a tombstone removes the older
// values at once, stays while delete.retention.ms has not passed since the
// cleaning that first kept it, and goes in the first pass after that,
// even with no new dirty data.
func TestCompactTombstonesAfterDeleteRetention(t *testing.T) {
	clk := &manualClock{}
	clk.ms.Store(1_700_000_000_000)
	s := openCompactStore(t, t.TempDir(), clk)
	p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact", "segment.bytes": "200", "delete.retention.ms": "60000"})
	m := newModel()
	put := func(k, v string) {
		var val []byte
		if v != "" {
			val = []byte(v)
		}
		recs := []kv{{[]byte(k), val}}
		res := appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load()}, recs))
		m.add(res.BaseOffset, recs)
	}
	for i := 0; i < 5; i++ {
		put("a", fmt.Sprintf("a%d", i))
		put("b", fmt.Sprintf("b%d", i))
	}
	put("a", "") // tombstone
	for i := 0; i < 6; i++ {
		put("c", fmt.Sprintf("c%d", i)) // pushes the tombstone out of the active segment
	}
	if res := compact(t, s); res.Segments == 0 {
		t.Fatal("first pass rewrote nothing")
	}
	recs := m.check(t, p, activeBase(p), false)
	tomb := false
	for _, g := range recs {
		if g.key == "a" {
			if g.value != nil {
				t.Fatalf("old value of a survived its tombstone: %+v", g)
			}
			tomb = true
		}
	}
	if !tomb {
		t.Fatal("tombstone removed at once")
	}
	clk.advance(59 * time.Second)
	compact(t, s)
	if recs := readRecords(t, p); !hasKey(recs, "a") {
		t.Fatal("tombstone removed before delete.retention.ms")
	}
	clk.advance(2 * time.Second)
	if res := compact(t, s); res.Segments == 0 {
		t.Fatal("no pass after the delete horizon")
	}
	if recs := readRecords(t, p); hasKey(recs, "a") {
		t.Fatal("tombstone kept after delete.retention.ms")
	}
	m.check(t, p, activeBase(p), true)
}

func hasKey(recs []got, k string) bool {
	for _, g := range recs {
		if g.key == k {
			return true
		}
	}
	return false
}

// TestCompactTransactionMarkers checks the generic handling of control
// batches: a marker stays while records of its transaction remain before
// it, whatever its horizon; once they are gone it stays until its delete
// horizon and then goes.
func TestCompactTransactionMarkers(t *testing.T) {
	clk := &manualClock{}
	clk.ms.Store(1_700_000_000_000)
	s := openCompactStore(t, t.TempDir(), clk)
	p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact", "segment.bytes": "150", "delete.retention.ms": "1000"})
	marker := func(pid int64) []byte {
		key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), 1) // version 0, COMMIT
		val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), 0)
		return buildKV(batchOpts{ts: clk.ms.Load(), pid: pid, seq: -1, control: true}, []kv{{key, val}})
	}
	// Producer 7: its transactional record of x is superseded later.
	appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load(), pid: 7, seq: 0, txn: true}, []kv{{[]byte("x"), []byte("x-txn")}}))
	m7 := appendSync(t, p, marker(7)).BaseOffset
	// Producer 8: its transactional record of y stays the newest.
	appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load(), pid: 8, seq: 0, txn: true}, []kv{{[]byte("y"), []byte("y-txn")}}))
	m8 := appendSync(t, p, marker(8)).BaseOffset
	for i := 0; i < 4; i++ {
		appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load()}, []kv{{[]byte("x"), []byte(fmt.Sprintf("x%d", i))}}))
	}
	markers := func() map[int64]bool {
		out := map[int64]bool{}
		for _, b := range readGaps(t, p) {
			if h, _ := parseHeader(b); h.attributes&attrControl != 0 {
				out[h.baseOffset] = true
			}
		}
		return out
	}
	compact(t, s)
	if got := markers(); !got[m7] || !got[m8] {
		t.Fatalf("markers after the first pass: %v, want %d and %d", got, m7, m8)
	}
	clk.advance(2 * time.Second)
	compact(t, s)
	got := markers()
	if got[m7] {
		t.Fatalf("marker %d kept past its horizon with no record of its transaction left", m7)
	}
	if !got[m8] {
		t.Fatalf("marker %d removed while its transaction's record remains", m8)
	}
	if recs := readRecords(t, p); !hasKey(recs, "y") || recs[0].key != "y" {
		t.Fatalf("records %+v", recs)
	}
}

// TestCompactRejectsKeylessRecords: a compacted topic refuses a batch with a
// record without a key, whole; a delete topic takes it.
func TestCompactRejectsKeylessRecords(t *testing.T) {
	s := openCompactStore(t, t.TempDir(), nil)
	p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact,delete"})
	for codec := int8(0); codec <= 4; codec++ {
		_, err := p.Append(buildKV(batchOpts{ts: 1, codec: codec}, []kv{{[]byte("k"), []byte("v")}, {nil, []byte("v")}}))
		wantErr(t, err, ErrRecordWithoutKey)
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("log end %d after refused appends", p.LogEndOffset())
	}
	appendSync(t, p, buildKV(batchOpts{ts: 1, codec: 2}, []kv{{[]byte("k"), nil}}))
	d := mustPartition(t, s, "d", nil)
	appendSync(t, d, buildKV(batchOpts{ts: 1}, []kv{{nil, []byte("v")}}))
}

// TestCompactDirtyRatioAndLag: nothing is cleaned below
// min.cleanable.dirty.ratio or while segments are younger than
// min.compaction.lag.ms, and the active segment never is.
func TestCompactDirtyRatioAndLag(t *testing.T) {
	clk := &manualClock{}
	clk.ms.Store(1_700_000_000_000)
	s := openCompactStore(t, t.TempDir(), clk)
	p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact", "segment.bytes": "300", "min.compaction.lag.ms": "10000"})
	for i := 0; i < 20; i++ {
		appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load()}, []kv{{[]byte("k"), []byte(fmt.Sprintf("v%d", i))}}))
	}
	if r, ok := p.DirtyRatio(); !ok || r != 0 {
		t.Fatalf("dirty ratio %v %v while every segment is within the lag", r, ok)
	}
	if res := compact(t, s); res.Segments != 0 {
		t.Fatalf("cleaned within min.compaction.lag.ms: %+v", res)
	}
	clk.advance(11 * time.Second)
	if r, _ := p.DirtyRatio(); r != 1 {
		t.Fatalf("dirty ratio %v, want 1", r)
	}
	if res := compact(t, s); res.Segments == 0 {
		t.Fatal("nothing cleaned past the lag")
	}
	if r, _ := p.DirtyRatio(); r != 0 {
		t.Fatalf("dirty ratio %v after a pass", r)
	}
	recs := readRecords(t, p)
	if last := recs[len(recs)-1]; last.value == nil || string(last.value) != "v19" {
		t.Fatalf("newest value lost: %+v", last)
	}
	// New dirty data below min.cleanable.dirty.ratio waits; at it, it is cleaned.
	for i := 0; i < 5; i++ {
		appendSync(t, p, buildKV(batchOpts{ts: clk.ms.Load()}, []kv{{[]byte("k"), []byte(fmt.Sprintf("w%d", i))}}))
	}
	clk.advance(11 * time.Second)
	r, _ := p.DirtyRatio()
	if r <= 0 || r >= 1 {
		t.Fatalf("dirty ratio %v, want within (0, 1)", r)
	}
	above := fmt.Sprint(min(1, r+0.01))
	if err := s.AlterConfigs("c", map[string]*string{"min.cleanable.dirty.ratio": &above}, true); err != nil {
		t.Fatal(err)
	}
	if res := compact(t, s); res.Segments != 0 {
		t.Fatalf("cleaned below min.cleanable.dirty.ratio: %+v", res)
	}
	at := fmt.Sprint(r)
	if err := s.AlterConfigs("c", map[string]*string{"min.cleanable.dirty.ratio": &at}, true); err != nil {
		t.Fatal(err)
	}
	if res := compact(t, s); res.Segments == 0 {
		t.Fatalf("not cleaned at min.cleanable.dirty.ratio %s", at)
	}
	if _, ok := mustPartition(t, s, "plain", nil).DirtyRatio(); ok {
		t.Fatal("a delete topic reports a dirty ratio")
	}
}

// TestCompactWhileProducingAndConsuming runs the background cleaner every
// few milliseconds while writers append keyed records and readers tail the
// log; readers must only ever see records as appended, in offset order,
// and at the end the newest record of every key is there.
func TestCompactWhileProducingAndConsuming(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, RetentionCheckInterval: time.Hour, CompactionCheckInterval: 5 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.1"})
	m := newModel()
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				recs := []kv{{[]byte(fmt.Sprintf("k%02d", (i*7+w)%30)), []byte(fmt.Sprintf("w%d-%d", w, i))}}
				b := buildKV(batchOpts{ts: time.Now().UnixMilli(), codec: int8(i % 3)}, recs)
				mu.Lock()
				res, err := p.Append(b)
				if err == nil {
					m.add(res.BaseOffset, recs)
				}
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := p.Sync(ctx, res.LastOffset); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				next, last := p.LogStartOffset(), int64(-1)
				for next < p.HighWatermark() {
					res, err := p.Read(next, 8<<10)
					if err != nil {
						t.Error(err)
						return
					}
					if len(res.Data) == 0 {
						break
					}
					hs, err := parseBatches(res.Data, nil)
					if err != nil {
						t.Error(err)
						return
					}
					for _, h := range hs {
						b := res.Data[h.pos : h.pos+h.size]
						if err := eachRecord(b, func(rec *record) {
							off := h.baseOffset + int64(rec.offsetDelta)
							v, _ := valueOf(rec)
							mu.Lock()
							want := m.byOffset[off]
							mu.Unlock()
							if off <= last || string(want.key) != string(rec.key) || !bytes.Equal(want.value, v) {
								t.Errorf("read offset %d %q=%q after %d, appended %q=%q", off, rec.key, v, last, want.key, want.value)
							}
							last = off
						}); err != nil {
							t.Error(err)
						}
						next = h.baseOffset + int64(h.lastOffsetDelta) + 1
					}
					reads.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Let the cleaner catch up with the last segments.
	deadline := time.Now().Add(20 * time.Second)
	for s.CompactionStats().Passes < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	st := s.CompactionStats()
	if st.Passes == 0 || st.RemovedBytes == 0 {
		t.Fatalf("the background cleaner did nothing: %+v", st)
	}
	recs := m.check(t, p, 0, false)
	t.Logf("%d appended, %d left, %d reads, cleaner %+v", len(m.byOffset), len(recs), reads.Load(), st)
}

// TestMain's crash writer for TestCompactCrashMidSwap: it fills a compacted
// topic deterministically, then compacts with the cleaner hook killing the
// process at the step named in STORAGE_COMPACT_CRASH_AT.
func compactCrashWriter(dir, step string) {
	s, err := Open(Options{Dir: dir, RetentionCheckInterval: time.Hour, CompactionCheckInterval: time.Hour, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := s.CreateTopic("c", 1, map[string]string{"cleanup.policy": "compact", "segment.bytes": "1024"}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	p, _ := s.Partition("c", 0)
	for i := 0; i < crashRecords; i++ {
		res, err := p.Append(buildKV(batchOpts{ts: time.Now().UnixMilli(), codec: int8(i % 2 * 2)}, []kv{crashKV(i)}))
		if err == nil {
			err = p.Sync(context.Background(), res.LastOffset)
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	swaps := 0
	s.cleaner.hook = func(name string) {
		if name == "dir-synced" {
			swaps++
		}
		// Crash in the second segment swap, so one swap is complete.
		if name == step && swaps >= 1 {
			fmt.Println("crashing at", name)
			os.Stdout.Sync()
			p, _ := os.FindProcess(os.Getpid())
			p.Kill()
			select {}
		}
	}
	if _, err := s.Compact(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("finished")
	os.Exit(0)
}

const crashRecords = 300

func crashKV(i int) kv {
	return kv{[]byte(fmt.Sprintf("k%02d", i%17)), []byte(fmt.Sprintf("value-%04d", i))}
}

// TestCompactCrashMidSwap kills a process (SIGKILL) at each step of a
// cleaned segment's swap and reopens the store: the newest value of every
// key is there, every record is the one appended at its offset, no temp
// file is left, and another pass completes the compaction.
func TestCompactCrashMidSwap(t *testing.T) {
	m := newModel()
	for i := 0; i < crashRecords; i++ {
		m.add(int64(i), []kv{crashKV(i)})
	}
	for _, step := range []string{"written", "synced", "indexes-removed", "renamed", "dir-synced"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			cmd := execSelf("STORAGE_COMPACT_CRASH_DIR="+dir, "STORAGE_COMPACT_CRASH_AT="+step)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), "crashing at "+step) {
				t.Fatalf("writer did not crash at %s: %s", step, out)
			}
			s := openCompactStore(t, dir, nil)
			p, err := s.Partition("c", 0)
			if err != nil {
				t.Fatal(err)
			}
			m.check(t, p, 0, false)
			entries, _ := os.ReadDir(filepath.Join(dir, "topics", "c-0"))
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Fatalf("temp file %s left after recovery", e.Name())
				}
			}
			if p.HighWatermark() != crashRecords {
				t.Fatalf("high watermark %d, want %d", p.HighWatermark(), crashRecords)
			}
			compact(t, s)
			recs := m.check(t, p, activeBase(p), false)
			if len(recs) >= crashRecords/2 {
				t.Fatalf("%d records left after a complete pass", len(recs))
			}
		})
	}
}

// execSelf runs this test binary as a crash writer with the given
// environment additions.
func execSelf(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestCompactAbortedAndOpenTransactions: an aborted transactional write never
// supersedes the committed value of its key and is removed with its marker
// in the end, and nothing from an open transaction's first offset on is
// cleaned until it is decided.
func TestCompactAbortedAndOpenTransactions(t *testing.T) {
	clk := &manualClock{}
	clk.ms.Store(1_700_000_000_000)
	s := openCompactStore(t, t.TempDir(), clk)
	p := mustPartition(t, s, "c", map[string]string{"cleanup.policy": "compact", "segment.bytes": "150", "delete.retention.ms": "1000"})
	ts := clk.ms.Load()
	appendSync(t, p, buildKV(batchOpts{ts: ts}, []kv{{[]byte("a"), []byte("a-committed")}}))
	// Producer 9 writes a newer a and b in a transaction, then aborts it.
	appendSync(t, p, buildKV(batchOpts{ts: ts, pid: 9, seq: 0, txn: true}, []kv{{[]byte("a"), []byte("a-aborted")}}))
	appendSync(t, p, buildKV(batchOpts{ts: ts, pid: 9, seq: 1, txn: true}, []kv{{[]byte("b"), []byte("b-aborted")}}))
	if _, err := p.WriteMarker(9, 0, false); err != nil {
		t.Fatal(err)
	}
	// Producer 10 opens a transaction over c and leaves it open.
	appendSync(t, p, buildKV(batchOpts{ts: ts, pid: 10, seq: 0, txn: true}, []kv{{[]byte("c"), []byte("c-open")}}))
	openAt := p.LastStableOffset()
	for i := 0; i < 4; i++ {
		appendSync(t, p, buildKV(batchOpts{ts: ts}, []kv{{[]byte("c"), []byte(fmt.Sprintf("c%d", i))}}))
	}
	value := func(recs []got, key string) []string {
		var out []string
		for _, r := range recs {
			if r.key == key {
				out = append(out, string(r.value))
			}
		}
		return out
	}
	compact(t, s)
	clk.advance(2 * time.Second)
	compact(t, s)
	recs := readRecords(t, p)
	if got := value(recs, "a"); len(got) != 1 || got[0] != "a-committed" {
		t.Fatalf("a after compaction: %v, want only the committed value", got)
	}
	if got := value(recs, "b"); len(got) != 0 {
		t.Fatalf("b after compaction: %v, want the aborted write removed", got)
	}
	// The open transaction's record and everything after it stay.
	if got := value(recs, "c"); len(got) != 5 || got[0] != "c-open" {
		t.Fatalf("c after compaction: %v, want the open transaction's record and all 4 later ones", got)
	}
	if p.LastStableOffset() != openAt {
		t.Fatalf("last stable offset moved from %d to %d", openAt, p.LastStableOffset())
	}
}
