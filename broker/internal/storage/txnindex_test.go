package storage

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// txnBatch is a transactional batch of producer pid.
func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	b := build(spec{n: n, size: 10, ts: 1000, pid: pid, epoch: epoch, seq: seq})
	binary.BigEndian.PutUint16(b[offAttributes:], binary.BigEndian.Uint16(b[offAttributes:])|attrTransactional)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b
}

func marker(t *testing.T, p *Partition, pid int64, epoch int16, commit bool) int64 {
	t.Helper()
	off, err := p.WriteMarker(pid, epoch, commit)
	if err != nil {
		t.Fatalf("marker: %v", err)
	}
	ctx, cancel := testContext()
	defer cancel()
	if off >= 0 {
		if err := p.Sync(ctx, off); err != nil {
			t.Fatal(err)
		}
	}
	return off
}

// TestTransactionsInLog: the last stable offset stops at the oldest open
// transaction, aborted transactions are indexed, read_committed reads stop
// at the last stable offset, and all of it is rebuilt on open, from the
// producer snapshot (clean close) and from the log alone (no snapshot).
func TestTransactionsInLog(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dropSnapshot bool
	}{{"from snapshot", false}, {"from the log", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncEveryAck)
			p := mustPartition(t, s, "t", nil)
			appendSync(t, p, plain(2, 10, 1000))   // 0-1
			appendSync(t, p, txnBatch(7, 0, 0, 3)) // 2-4: producer 7, to be aborted
			appendSync(t, p, txnBatch(8, 0, 0, 2)) // 5-6: producer 8, to be committed
			if lso := p.LastStableOffset(); lso != 2 {
				t.Fatalf("last stable offset %d with two transactions open, want 2", lso)
			}
			if off := marker(t, p, 7, 1, false); off != 7 { // abort with a bumped epoch
				t.Fatalf("abort marker at %d, want 7", off)
			}
			if lso := p.LastStableOffset(); lso != 5 {
				t.Fatalf("last stable offset %d, want 5 (producer 8 open)", lso)
			}
			// A zombie of the old epoch is refused after the fencing marker.
			if _, err := p.Append(txnBatch(7, 0, 3, 1)); err == nil {
				t.Fatal("a batch of a fenced epoch was appended")
			} else {
				wantErr(t, err, ErrInvalidProducerEpoch)
			}
			res, lso, err := p.ReadCommittedAlloc(0, 1<<20, func(n int) []byte { return make([]byte, n) })
			if err != nil || lso != 5 {
				t.Fatalf("read committed: lso %d, %v", lso, err)
			}
			hs, _ := parseBatches(res.Data, nil)
			if last := hs[len(hs)-1]; last.baseOffset+int64(last.lastOffsetDelta) != 4 {
				t.Fatalf("read_committed read up to %d, want 4", last.baseOffset+int64(last.lastOffsetDelta))
			}
			marker(t, p, 8, 0, true)             // 8
			appendSync(t, p, plain(1, 10, 2000)) // 9
			if lso, hwm := p.LastStableOffset(), p.HighWatermark(); lso != hwm || hwm != 10 {
				t.Fatalf("last stable offset %d, high watermark %d, want both 10", lso, hwm)
			}
			if off := marker(t, p, 8, 0, true); off != -1 {
				t.Fatalf("a marker without an open transaction was written at %d", off)
			}
			check := func(p *Partition) {
				t.Helper()
				if got := p.AbortedTxns(0, 10); len(got) != 1 || got[0] != (AbortedTxn{ProducerID: 7, FirstOffset: 2, LastOffset: 7}) {
					t.Fatalf("aborted transactions %+v", got)
				}
				if got := p.AbortedTxns(8, 10); len(got) != 0 {
					t.Fatalf("aborted transactions after the marker: %+v", got)
				}
				if lso := p.LastStableOffset(); lso != 10 {
					t.Fatalf("last stable offset %d, want 10", lso)
				}
			}
			check(p)
			// Producer 9 opens a transaction that the restart must keep open.
			appendSync(t, p, txnBatch(9, 0, 0, 2)) // 10-11
			s.Close()
			if tc.dropSnapshot {
				if err := os.Remove(filepath.Join(dir, "topics", "t-0", snapshotName)); err != nil {
					t.Fatal(err)
				}
			}
			s = openStore(t, dir, SyncEveryAck)
			p = mustPartition(t, s, "t", nil)
			if got := p.AbortedTxns(0, 10); len(got) != 1 || got[0] != (AbortedTxn{ProducerID: 7, FirstOffset: 2, LastOffset: 7}) {
				t.Fatalf("aborted transactions after reopening: %+v", got)
			}
			if lso := p.LastStableOffset(); lso != 10 {
				t.Fatalf("last stable offset %d after reopening, want 10 (producer 9 open)", lso)
			}
			if _, err := p.Append(txnBatch(7, 0, 3, 1)); err == nil {
				t.Fatal("the fence did not survive reopening")
			}
			marker(t, p, 9, 0, false)
			if got := p.AbortedTxns(10, 13); len(got) != 1 || got[0].ProducerID != 9 {
				t.Fatalf("aborted after reopening: %+v", got)
			}
		})
	}
}

// TestProducerExpiry: producer state is forgotten producer.id.expiration.ms
// after its newest batch's timestamp, as of the clock passed in, except
// while the producer has a transaction open.
func TestProducerExpiry(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncEveryAck)
	p := mustPartition(t, s, "t", nil)
	appendSync(t, p, build(spec{n: 2, size: 10, ts: 1000, pid: 1, epoch: 0, seq: 0})) // newest ts 1001
	appendSync(t, p, txnBatch(2, 0, 0, 1))                                            // ts 1000, open
	base := time.UnixMilli(1001)
	if n := s.ExpireProducers(base.Add(24*time.Hour - time.Millisecond)); n != 0 {
		t.Fatalf("expired %d producers before producer.id.expiration.ms", n)
	}
	if n := s.ExpireProducers(base.Add(24*time.Hour + time.Millisecond)); n != 1 {
		t.Fatalf("expired %d producers, want 1 (the other has a transaction open)", n)
	}
	// Producer 1 is forgotten: a batch continuing its sequence is refused.
	_, err := p.Append(build(spec{n: 1, size: 10, ts: 2000, pid: 1, epoch: 0, seq: 2}))
	wantErr(t, err, ErrUnknownProducerID)
	marker(t, p, 2, 0, true) // stamped with the wall clock, like every marker
	if n := s.ExpireProducers(base.Add(48 * time.Hour)); n != 0 {
		t.Fatalf("expired %d producers within producer.id.expiration.ms of the marker", n)
	}
	if n := s.ExpireProducers(time.Now().Add(25 * time.Hour)); n != 1 {
		t.Fatalf("expired %d producers after the transaction ended, want 1", n)
	}
}

func FuzzControlType(f *testing.F) {
	f.Add(markerBatch(1, 2, true, 3))
	f.Add(markerBatch(1, 2, false, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = controlType(b) // must not panic
	})
}
