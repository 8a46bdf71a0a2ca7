package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

func TestParseSyncMode(t *testing.T) {
	tests := []struct {
		in   string
		want SyncMode
		err  bool
	}{
		{"fsync", SyncEveryAck, false},
		{"interval", SyncInterval, false},
		{"none", SyncNever, false},
		{"always", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSyncMode(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseSyncMode(%q) = %v, %v", tt.in, got, err)
			}
			if err == nil && got.String() != tt.in {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestAppendReadAcrossRolls(t *testing.T) {
	for _, mode := range []SyncMode{SyncEveryAck, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, mode)
			p := mustPartition(t, s, "t", map[string]string{"segment.bytes": "2000"})
			var sent [][]byte
			next := int64(0)
			for i := 0; i < 120; i++ {
				b := build(spec{n: 1 + i%4, size: 40, ts: int64(1000 + i), pid: -1, seq: -1, valSeed: byte(i)})
				sent = append(sent, append([]byte(nil), b...))
				res := appendSync(t, p, b)
				if res.BaseOffset != next || res.LastOffset != next+int64(i%4) {
					t.Fatalf("append %d at [%d, %d], want base %d", i, res.BaseOffset, res.LastOffset, next)
				}
				next = res.LastOffset + 1
			}
			if hw := p.HighWatermark(); hw != next {
				t.Fatalf("high watermark %d, want %d", hw, next)
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "topics", "t-0", "*.log"))
			if len(logs) < 5 {
				t.Fatalf("%d segments, want several rolls", len(logs))
			}
			check := func(p *Partition) {
				for _, max := range []int32{1, 500, 1 << 20} {
					got := readAll(t, p, 0, max)
					if len(got) != len(sent) {
						t.Fatalf("maxBytes %d: read %d batches, want %d", max, len(got), len(sent))
					}
					for i := range got {
						if !sameRecords(got[i], sent[i]) {
							t.Fatalf("batch %d differs", i)
						}
						if err := checkCRC(got[i]); err != nil {
							t.Fatalf("batch %d: %v", i, err)
						}
					}
				}
			}
			check(p)
			s.Close()
			s2 := openStore(t, dir, mode)
			p2, err := s2.Partition("t", 0)
			if err != nil {
				t.Fatal(err)
			}
			if p2.HighWatermark() != next {
				t.Fatalf("after reopen high watermark %d, want %d", p2.HighWatermark(), next)
			}
			check(p2)
			res := appendSync(t, p2, plain(2, 10, 5000))
			if res.BaseOffset != next {
				t.Fatalf("append after reopen at %d, want %d", res.BaseOffset, next)
			}
		})
	}
}

func TestReadEveryOffsetUsesIndex(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncNever)
	p := mustPartition(t, s, "t", nil)
	var total int64
	for i := 0; i < 1000; i++ {
		res := appendSync(t, p, plain(3, 100, int64(i)))
		total = res.LastOffset + 1
	}
	seg := p.segs[0]
	if int64(len(seg.index)) < seg.size/indexInterval-1 || len(seg.index) < 10 {
		t.Fatalf("%d index entries for %d bytes, want one per ~%d bytes", len(seg.index), seg.size, indexInterval)
	}
	for off := int64(0); off < total; off++ {
		res, err := p.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := parseBatches(res.Data, nil)
		if err != nil || len(hs) != 1 {
			t.Fatalf("offset %d: %d batches, %v", off, len(hs), err)
		}
		if hs[0].baseOffset > off || hs[0].baseOffset+int64(hs[0].lastOffsetDelta) < off {
			t.Fatalf("offset %d: got batch at %d", off, hs[0].baseOffset)
		}
	}
	buf := make([]byte, 0, 64<<10)
	res, err := p.ReadInto(buf, 5, 10000)
	if err != nil || len(res.Data) == 0 || &res.Data[0] != &buf[:1][0] {
		t.Fatalf("ReadInto did not use the buffer: %d bytes, %v", len(res.Data), err)
	}
	if got, _ := p.Read(5, 10000); string(got.Data) != string(res.Data) {
		t.Fatal("ReadInto and Read differ")
	}
	tests := []struct {
		name   string
		offset int64
		err    error
		empty  bool
	}{
		{"at end", total, nil, true},
		{"past end", total + 1, ErrOffsetOutOfRange, false},
		{"negative", -1, ErrOffsetOutOfRange, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.Read(tt.offset, 100)
			if tt.err != nil {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil || len(res.Data) != 0 {
				t.Fatalf("read = %d bytes, %v", len(res.Data), err)
			}
		})
	}
}

func TestOffsetForTime(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "t", map[string]string{"segment.bytes": "3000"})
	if off, ts := p.OffsetForTime(0); off != -1 || ts != -1 {
		t.Fatalf("empty log: (%d, %d)", off, ts)
	}
	if off, ts := p.MaxTimestamp(); off != -1 || ts != -1 {
		t.Fatalf("empty log max: (%d, %d)", off, ts)
	}
	// Batch i holds 5 records at offsets 5i.. with timestamps 1000i .. 1000i+4.
	for i := 0; i < 200; i++ {
		appendSync(t, p, plain(5, 30, int64(1000*i)))
	}
	tests := []struct {
		ts, off, got int64
	}{
		{-5, 0, 0},
		{0, 0, 0},
		{1, 1, 1},
		{4, 4, 4},
		{5, 5, 1000},
		{1000, 5, 1000},
		{57003, 288, 57003},
		{57100, 290, 58000},
		{199004, 999, 199004},
		{199005, -1, -1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.ts), func(t *testing.T) {
			off, ts := p.OffsetForTime(tt.ts)
			if off != tt.off || ts != tt.got {
				t.Fatalf("OffsetForTime(%d) = (%d, %d), want (%d, %d)", tt.ts, off, ts, tt.off, tt.got)
			}
		})
	}
	if off, ts := p.MaxTimestamp(); off != 999 || ts != 199004 {
		t.Fatalf("MaxTimestamp = (%d, %d), want (999, 199004)", off, ts)
	}
}

func TestRetention(t *testing.T) {
	now := time.Now().UnixMilli()
	tests := []struct {
		name    string
		configs map[string]string
		ts      func(i int) int64
		check   func(t *testing.T, p *Partition) bool
	}{
		{
			name:    "by time",
			configs: map[string]string{"segment.bytes": "1000", "retention.ms": "3600000"},
			// the first 100 batches are two hours old, the next 20 new
			ts: func(i int) int64 {
				if i < 100 {
					return now - 2*3600*1000
				}
				return now
			},
			check: func(t *testing.T, p *Partition) bool {
				ls := p.LogStartOffset()
				if ls == 0 {
					return false
				}
				if ls > 100 {
					t.Fatalf("log start %d deleted new records", ls)
				}
				res, err := p.Read(ls, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				hs, _ := parseBatches(res.Data, nil)
				// the oldest remaining segment must hold records with new timestamps
				p.mu.RLock()
				oldest := p.segs[0].maxTs
				p.mu.RUnlock()
				return len(hs) > 0 && oldest >= now
			},
		},
		{
			name:    "compact keeps everything",
			configs: map[string]string{"segment.bytes": "1000", "retention.bytes": "1000", "retention.ms": "1", "cleanup.policy": "compact"},
			ts:      func(i int) int64 { return now - 2*3600*1000 },
			check: func(t *testing.T, p *Partition) bool {
				// Retention must have run several times meanwhile.
				start := p.store.retentionRuns.Load()
				deadline := time.Now().Add(60 * time.Second)
				for p.store.retentionRuns.Load() < start+3 {
					if time.Now().After(deadline) {
						t.Fatal("retention did not run")
					}
					time.Sleep(5 * time.Millisecond)
				}
				if ls := p.LogStartOffset(); ls != 0 {
					t.Fatalf("compacted topic lost records: log start %d", ls)
				}
				return true
			},
		},
		{
			name:    "by bytes",
			configs: map[string]string{"segment.bytes": "1000", "retention.bytes": "3000"},
			ts:      func(i int) int64 { return now },
			check: func(t *testing.T, p *Partition) bool {
				p.mu.RLock()
				var total int64
				for _, s := range p.segs[:len(p.segs)-1] {
					total += s.size
				}
				p.mu.RUnlock()
				return total <= 3000 && p.LogStartOffset() > 0
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir, Sync: SyncEveryAck, RetentionCheckInterval: 5 * time.Millisecond, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			p := mustPartition(t, s, "r", tt.configs)
			for i := 0; i < 120; i++ {
				appendSync(t, p, build(spec{n: 1, size: 100, ts: tt.ts(i), pid: -1, seq: -1}))
			}
			deadline := time.Now().Add(60 * time.Second)
			for !tt.check(t, p) {
				if time.Now().After(deadline) {
					t.Fatalf("retention did not run: log start %d", p.LogStartOffset())
				}
				time.Sleep(10 * time.Millisecond)
			}
			ls := p.LogStartOffset()
			if _, err := p.Read(ls-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below log start: %v", err)
			}
			got := readAll(t, p, ls, 1<<20)
			if int64(len(got)) != 120-ls {
				t.Fatalf("%d batches remain from %d, want %d", len(got), ls, 120-ls)
			}
			// Files of deleted segments are gone.
			logs, _ := filepath.Glob(filepath.Join(dir, "topics", "r-0", "*.log"))
			p.mu.RLock()
			n := len(p.segs)
			p.mu.RUnlock()
			if len(logs) != n {
				t.Fatalf("%d segment files, %d segments", len(logs), n)
			}
		})
	}
}

func TestDeleteRecordsPersists(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncEveryAck)
	p := mustPartition(t, s, "d", map[string]string{"segment.bytes": "500"})
	for i := 0; i < 40; i++ {
		appendSync(t, p, plain(1, 100, int64(i)))
	}
	tests := []struct {
		name   string
		before int64
		want   int64
		err    error
	}{
		{"advance", 25, 25, nil},
		{"not backwards", 10, 25, nil},
		{"beyond high watermark", 41, 25, ErrOffsetOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.DeleteRecords(tt.before)
			if tt.err != nil {
				wantErr(t, err, tt.err)
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("log start %d, want %d", got, tt.want)
			}
		})
	}
	if _, err := p.Read(24, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	if res, err := p.Read(25, 1); err != nil || len(res.Data) == 0 || res.LogStartOffset != 25 {
		t.Fatalf("read at log start: %v %+v", err, res)
	}
	s.Close()
	s2 := openStore(t, dir, SyncEveryAck)
	p2, _ := s2.Partition("d", 0)
	if ls := p2.LogStartOffset(); ls != 25 {
		t.Fatalf("log start after reopen %d, want 25", ls)
	}
	if got := readAll(t, p2, 25, 1<<20); len(got) != 15 {
		t.Fatalf("%d batches after reopen, want 15", len(got))
	}
	if ls, err := p2.DeleteRecords(-1); err != nil || ls != 40 {
		t.Fatalf("DeleteRecords(-1) = %d, %v; want 40", ls, err)
	}
}

func TestRecoveryTruncatesTornTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, lastPos int64, size int64)
	}{
		{"truncated mid-batch", func(t *testing.T, path string, lastPos, size int64) {
			if err := os.Truncate(path, lastPos+30); err != nil {
				t.Fatal(err)
			}
		}},
		{"bad CRC", func(t *testing.T, path string, lastPos, size int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0xff, 0xee}, size-5); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeroes after the end", func(t *testing.T, path string, lastPos, size int64) {
			// The last batch is intact here; only a preallocated zero tail.
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 4096), size); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncEveryAck)
			p := mustPartition(t, s, "c", nil)
			var sent [][]byte
			for i := 0; i < 20; i++ {
				b := build(spec{n: 2, size: 50, ts: int64(i), pid: -1, seq: -1, valSeed: byte(i)})
				sent = append(sent, append([]byte(nil), b...))
				appendSync(t, p, b)
			}
			p.mu.RLock()
			seg := p.segs[len(p.segs)-1]
			size := seg.size
			path := seg.path
			p.mu.RUnlock()
			lastPos := size - int64(len(sent[19]))
			s.Close()
			tt.damage(t, path, lastPos, size)

			s2 := openStore(t, dir, SyncEveryAck)
			p2, _ := s2.Partition("c", 0)
			want := sent
			if tt.name != "zeroes after the end" {
				want = sent[:19]
			}
			if hw := p2.HighWatermark(); hw != int64(2*len(want)) {
				t.Fatalf("high watermark %d, want %d", hw, 2*len(want))
			}
			got := readAll(t, p2, 0, 1<<20)
			if len(got) != len(want) {
				t.Fatalf("%d batches, want %d", len(got), len(want))
			}
			for i := range got {
				if !sameRecords(got[i], want[i]) {
					t.Fatalf("batch %d differs", i)
				}
			}
			res := appendSync(t, p2, plain(1, 10, 99))
			if res.BaseOffset != int64(2*len(want)) {
				t.Fatalf("next append at %d, want %d", res.BaseOffset, 2*len(want))
			}
			if got := readAll(t, p2, 0, 1<<20); len(got) != len(want)+1 {
				t.Fatalf("%d batches after append, want %d", len(got), len(want)+1)
			}
		})
	}
}

func TestRecoveryRebuildsStaleIndexes(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncNever)
	p := mustPartition(t, s, "i", map[string]string{"segment.bytes": "20000"})
	for i := 0; i < 400; i++ {
		appendSync(t, p, plain(2, 100, int64(i)*10))
	}
	s.Close()
	idx, _ := filepath.Glob(filepath.Join(dir, "topics", "i-0", "*.index"))
	if len(idx) < 3 {
		t.Fatalf("%d index files", len(idx))
	}
	// Garbage in one, another missing.
	if err := os.WriteFile(idx[0], []byte("not an index, not at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(idx[1]); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, SyncNever)
	p2, _ := s2.Partition("i", 0)
	for off := int64(0); off < 800; off += 37 {
		res, err := p2.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		hs, _ := parseBatches(res.Data, nil)
		if len(hs) != 1 || hs[0].baseOffset != off&^1 {
			t.Fatalf("offset %d: got %v", off, hs)
		}
	}
	if off, ts := p2.OffsetForTime(1234); off != 248 || ts != 1240 {
		t.Fatalf("OffsetForTime = (%d, %d), want (248, 1240)", off, ts)
	}
}

func TestIdempotentProducer(t *testing.T) {
	for _, keepSnapshot := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot=%v", keepSnapshot), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncEveryAck)
			p := mustPartition(t, s, "idem", map[string]string{"segment.bytes": "400"})
			const pid = 42
			idem := func(epoch int16, seq int32, n int) []byte {
				return build(spec{n: n, size: 20, ts: 1, pid: pid, epoch: epoch, seq: seq})
			}
			r0 := appendSync(t, p, idem(0, 0, 3)) // seq 0-2
			r1 := appendSync(t, p, idem(0, 3, 2)) // seq 3-4
			appendSync(t, p, plain(1, 300, 1))    // unrelated, forces a roll
			dup, err := p.Append(idem(0, 3, 2))
			if err != nil || !dup.Duplicate || dup.BaseOffset != r1.BaseOffset || dup.LastOffset != r1.LastOffset {
				t.Fatalf("retry = %+v, %v; want duplicate of %+v", dup, err, r1)
			}
			_, err = p.Append(idem(0, 7, 1))
			wantErr(t, err, ErrOutOfOrderSequence)
			s.Close()
			if !keepSnapshot {
				if err := os.Remove(filepath.Join(dir, "topics", "idem-0", snapshotName)); err != nil {
					t.Fatal(err)
				}
			}

			s2 := openStore(t, dir, SyncEveryAck)
			p2, _ := s2.Partition("idem", 0)
			hw := p2.HighWatermark()
			tests := []struct {
				name string
				b    []byte
				err  error
				dup  *AppendResult
			}{
				{"retry of the first batch", idem(0, 0, 3), nil, &r0},
				{"retry of the second batch", idem(0, 3, 2), nil, &r1},
				{"gap", idem(0, 6, 1), ErrOutOfOrderSequence, nil},
				{"unknown producer", build(spec{n: 1, pid: 7, seq: 5}), ErrUnknownProducerID, nil},
				{"next sequence", idem(0, 5, 1), nil, nil},
				{"new epoch not at 0", idem(1, 3, 1), ErrOutOfOrderSequence, nil},
				{"new epoch", idem(1, 0, 1), nil, nil},
				{"old epoch", idem(0, 6, 1), ErrInvalidProducerEpoch, nil},
			}
			for _, tt := range tests {
				res, err := p2.Append(tt.b)
				if tt.err != nil {
					wantErr(t, err, tt.err)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if tt.dup != nil {
					if !res.Duplicate || res.BaseOffset != tt.dup.BaseOffset || res.LastOffset != tt.dup.LastOffset {
						t.Fatalf("%s: %+v, want duplicate of %+v", tt.name, res, *tt.dup)
					}
					continue
				}
				if res.Duplicate || res.BaseOffset != hw {
					t.Fatalf("%s: %+v, want a new append at %d", tt.name, res, hw)
				}
				hw = res.LastOffset + 1
			}
		})
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncNever)
	p := mustPartition(t, s, "bad", map[string]string{"max.message.bytes": "1000"})
	good := plain(1, 10, 1)
	badCRC := plain(1, 10, 1)
	badCRC[len(badCRC)-1] ^= 1
	badMagic := plain(1, 10, 1)
	badMagic[offMagic] = 1
	tests := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, ErrCorruptBatch},
		{"short", good[:30], ErrCorruptBatch},
		{"truncated", good[:len(good)-1], ErrCorruptBatch},
		{"bad crc", badCRC, ErrCorruptBatch},
		{"bad magic", badMagic, ErrCorruptBatch},
		{"good then bad", append(append([]byte(nil), good...), badCRC...), ErrCorruptBatch},
		{"too large", plain(1, 2000, 1), ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Append(tt.b)
			wantErr(t, err, tt.err)
			if p.HighWatermark() != 0 {
				t.Fatalf("something was appended")
			}
		})
	}
}

func TestLogAppendTime(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "lat", map[string]string{"message.timestamp.type": "LogAppendTime"})
	before := time.Now().UnixMilli()
	res := appendSync(t, p, plain(3, 10, 5))
	if res.LogAppendTime < before {
		t.Fatalf("LogAppendTime %d, before append %d", res.LogAppendTime, before)
	}
	got := readAll(t, p, 0, 1000)
	h, err := parseHeader(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if h.attributes&attrLogAppendTime == 0 || h.maxTimestamp != res.LogAppendTime {
		t.Fatalf("batch not stamped: attrs %x max ts %d", h.attributes, h.maxTimestamp)
	}
	if err := checkCRC(got[0]); err != nil {
		t.Fatal(err)
	}
}

func TestDiskFullRollsBack(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncEveryAck)
	p := mustPartition(t, s, "full", nil)
	appendSync(t, p, plain(2, 100, 1))
	sizeBefore := p.segs[0].size
	s.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		n, _ := f.WriteAt(b[:len(b)/2], off) // a partial write, then the disk is full
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	_, err := p.Append(plain(5, 300, 2))
	wantErr(t, err, ErrDiskFull)
	fi, err := os.Stat(p.segs[0].path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != sizeBefore {
		t.Fatalf("file is %d bytes after the failed append, want %d", fi.Size(), sizeBefore)
	}
	if got := readAll(t, p, 0, 1<<20); len(got) != 1 {
		t.Fatalf("reads during disk full: %d batches", len(got))
	}
	s.writeAt = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
	res := appendSync(t, p, plain(1, 10, 3))
	if res.BaseOffset != 2 {
		t.Fatalf("append after space freed at %d, want 2", res.BaseOffset)
	}
	s.Close()
	s2 := openStore(t, dir, SyncEveryAck)
	p2, _ := s2.Partition("full", 0)
	if got := readAll(t, p2, 0, 1<<20); len(got) != 2 || p2.HighWatermark() != 3 {
		t.Fatalf("after reopen: %d batches, high watermark %d", len(got), p2.HighWatermark())
	}
}

func TestGroupCommitConcurrent(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	if _, err := s.CreateTopic("g", 3, map[string]string{"segment.bytes": "50000"}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 12, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var mu sync.Mutex
	seen := map[string]bool{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.Partition("g", int32(w%3))
			if err != nil {
				errs <- err
				return
			}
			ctx, cancel := testContext()
			defer cancel()
			for i := 0; i < each; i++ {
				res, err := p.Append(plain(2, 50, int64(i)))
				if err != nil {
					errs <- err
					return
				}
				if err := p.Sync(ctx, res.LastOffset); err != nil {
					errs <- err
					return
				}
				if p.HighWatermark() <= res.LastOffset {
					errs <- fmt.Errorf("sync returned before offset %d was visible", res.LastOffset)
					return
				}
				mu.Lock()
				key := fmt.Sprint(w%3, res.BaseOffset)
				if seen[key] {
					errs <- fmt.Errorf("offset %s assigned twice", key)
				}
				seen[key] = true
				mu.Unlock()
			}
		}()
	}
	// Concurrent readers never block on fsync and only see whole batches.
	done := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		p, _ := s.Partition("g", 0)
		for {
			select {
			case <-done:
				return
			default:
			}
			res, err := p.Read(0, 1<<20)
			if err != nil {
				errs <- err
				return
			}
			if len(res.Data) > 0 {
				if _, err := parseBatches(res.Data, nil); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var total int64
	for i := int32(0); i < 3; i++ {
		p, _ := s.Partition("g", i)
		total += p.HighWatermark()
		if got := readAll(t, p, 0, 1<<20); int64(len(got))*2 != p.HighWatermark() {
			t.Fatalf("partition %d: %d batches, high watermark %d", i, len(got), p.HighWatermark())
		}
	}
	if total != writers*each*2 {
		t.Fatalf("%d records, want %d", total, writers*each*2)
	}
}

func TestWaitClosesOnNewData(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "w", nil)
	ch := p.Wait()
	select {
	case <-ch:
		t.Fatal("closed before any append")
	default:
	}
	if _, err := p.Append(plain(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatal("Wait channel not closed after an append became durable")
	}
	if p.HighWatermark() != 1 {
		t.Fatalf("high watermark %d", p.HighWatermark())
	}
}

func TestSyncHonoursContext(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "ctx", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Offset 10 is never written: only the context ends the wait.
	if err := p.Sync(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync = %v, want context.Canceled", err)
	}
}

func TestSegmentRollsByAge(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncNever)
	p := mustPartition(t, s, "age", map[string]string{"segment.ms": "1"})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := p.Append(plain(1, 10, 1)); err != nil {
			t.Fatal(err)
		}
		p.mu.RLock()
		n := len(p.segs)
		p.mu.RUnlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no roll by age: %d segments", n)
		}
	}
	if got := readAll(t, p, 0, 1<<20); int64(len(got)) != p.HighWatermark() {
		t.Fatalf("%d batches, high watermark %d", len(got), p.HighWatermark())
	}
}

func TestRecoveryOfDamagedClosedSegment(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncNever)
	p := mustPartition(t, s, "m", map[string]string{"segment.bytes": "1000"})
	for i := 0; i < 30; i++ {
		appendSync(t, p, plain(1, 100, int64(i)))
	}
	p.mu.RLock()
	first := p.segs[0]
	firstSize, firstNext, nsegs := first.size, first.next, len(p.segs)
	p.mu.RUnlock()
	if nsegs < 3 {
		t.Fatalf("%d segments", nsegs)
	}
	s.Close()
	// Damage the last batch of the first (closed) segment and drop its index.
	f, err := os.OpenFile(first.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, firstSize-3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(first.indexPath()); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, SyncNever)
	p2, _ := s2.Partition("m", 0)
	if hw := p2.HighWatermark(); hw != firstNext-1 {
		t.Fatalf("high watermark %d, want %d (the damaged batch and everything after it gone)", hw, firstNext-1)
	}
	if got := readAll(t, p2, 0, 1<<20); int64(len(got)) != firstNext-1 {
		t.Fatalf("%d batches", len(got))
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "topics", "m-0", "*.log"))
	if len(logs) != 1 {
		t.Fatalf("%d segment files remain, want 1", len(logs))
	}
	if res := appendSync(t, p2, plain(1, 10, 1)); res.BaseOffset != firstNext-1 {
		t.Fatalf("next append at %d", res.BaseOffset)
	}
}

// TestGroupCommitSharesOneFsync holds the first fsync until eleven more
// appends are waiting in Sync, then checks that all eleven are made durable
// by a single further fsync.
func TestGroupCommitSharesOneFsync(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "gc", nil)
	release := make(chan struct{})
	var calls sync.Mutex
	fsyncs := 0
	s.fsyncFile = func(f *os.File) error {
		calls.Lock()
		fsyncs++
		first := fsyncs == 1
		calls.Unlock()
		if first {
			<-release
		}
		return f.Sync()
	}
	ctx, cancel := testContext()
	defer cancel()
	res, err := p.Append(plain(1, 10, 1))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 12)
	go func() { errs <- p.Sync(ctx, res.LastOffset) }()
	// Wait for the first round to be inside its fsync.
	for deadline := time.Now().Add(60 * time.Second); ; {
		calls.Lock()
		n := fsyncs
		calls.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first fsync never started")
		}
		time.Sleep(time.Millisecond)
	}
	// While the fsync is held, reads do not wait for it and do not see the
	// record that is not durable yet.
	if res, err := p.Read(0, 1000); err != nil || len(res.Data) != 0 || res.HighWatermark != 0 {
		t.Fatalf("read during fsync: %d bytes, high watermark %d, %v", len(res.Data), res.HighWatermark, err)
	}
	if leo := p.LogEndOffset(); leo != 1 {
		t.Fatalf("log end offset %d, want 1", leo)
	}
	for i := 0; i < 11; i++ {
		res, err := p.Append(plain(1, 10, 1))
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- p.Sync(ctx, res.LastOffset) }()
	}
	close(release)
	for i := 0; i < 12; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	calls.Lock()
	defer calls.Unlock()
	if fsyncs != 2 {
		t.Fatalf("%d fsyncs for 12 appends, want 2 (the held one and one shared by the other 11)", fsyncs)
	}
	if hw := p.HighWatermark(); hw != 12 {
		t.Fatalf("high watermark %d", hw)
	}
}

func TestFsyncFailureIsReported(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "ff", nil)
	failing := errors.New("injected fsync failure")
	var mu sync.Mutex
	fail := true
	s.fsyncFile = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return failing
		}
		return f.Sync()
	}
	ctx, cancel := testContext()
	defer cancel()
	res, err := p.Append(plain(1, 10, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx, res.LastOffset); !errors.Is(err, failing) {
		t.Fatalf("Sync = %v, want the fsync error", err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after a failed fsync", hw)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	res = appendSync(t, p, plain(1, 10, 2))
	if hw := p.HighWatermark(); hw != 2 || res.BaseOffset != 1 {
		t.Fatalf("after recovery: high watermark %d, base %d", hw, res.BaseOffset)
	}
}

func TestAppendDeferredOneRoundForAllPartitions(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	if _, err := s.CreateTopic("multi", 4, nil); err != nil {
		t.Fatal(err)
	}
	var parts []*Partition
	var lasts []int64
	for i := range int32(4) {
		p, err := s.Partition("multi", i)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.AppendDeferred(plain(2, 50, 1))
		if err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
		parts, lasts = append(parts, p), append(lasts, res.LastOffset)
	}
	// No round has been started: nothing is visible yet, and the syncer
	// has every partition queued for one round.
	for i, p := range parts {
		if hwm := p.HighWatermark(); hwm != 0 {
			t.Fatalf("partition %d: high watermark %d before StartSync", i, hwm)
		}
	}
	s.dirtyMu.Lock()
	queued := len(s.dirty)
	s.dirtyMu.Unlock()
	if queued != len(parts) {
		t.Fatalf("%d partitions queued for the round, want %d", queued, len(parts))
	}
	s.StartSync()
	ctx, cancel := testContext()
	defer cancel()
	for i, p := range parts {
		if err := p.Sync(ctx, lasts[i]); err != nil {
			t.Fatalf("partition %d: sync: %v", i, err)
		}
		if got := readAll(t, p, 0, 1<<20); len(got) != 1 {
			t.Fatalf("partition %d: %d batches visible, want 1", i, len(got))
		}
	}
}

// TestRoundPublishesTogether holds one partition's fsync and checks that
// the other partition of the same round, though fsynced, stays invisible
// until the held one is durable too; then both become visible.
func TestRoundPublishesTogether(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	if _, err := s.CreateTopic("pair", 2, nil); err != nil {
		t.Fatal(err)
	}
	p0, _ := s.Partition("pair", 0)
	p1, _ := s.Partition("pair", 1)
	held := p0.dir
	release := make(chan struct{})
	otherDone := make(chan struct{}, 1)
	s.fsyncFile = func(f *os.File) error {
		err := f.Sync()
		if filepath.Dir(f.Name()) == held {
			<-release
		} else {
			otherDone <- struct{}{}
		}
		return err
	}
	r0, err := p0.AppendDeferred(plain(1, 10, 1))
	if err != nil {
		t.Fatal(err)
	}
	r1, err := p1.AppendDeferred(plain(1, 10, 1))
	if err != nil {
		t.Fatal(err)
	}
	s.StartSync()
	select {
	case <-otherDone:
	case <-time.After(60 * time.Second):
		t.Fatal("partition 1 was never fsynced")
	}
	if hwm := p1.HighWatermark(); hwm != 0 {
		t.Fatalf("partition 1 visible up to %d while partition 0 of its round is not durable", hwm)
	}
	close(release)
	ctx, cancel := testContext()
	defer cancel()
	if err := p0.Sync(ctx, r0.LastOffset); err != nil {
		t.Fatal(err)
	}
	if err := p1.Sync(ctx, r1.LastOffset); err != nil {
		t.Fatal(err)
	}
}
