package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// spec describes a record batch to build in tests.
type spec struct {
	n       int   // records
	size    int   // value bytes per record
	ts      int64 // first timestamp; record i has ts+i
	pid     int64 // producer id, -1 for none
	epoch   int16
	seq     int32
	valSeed byte
}

// build encodes a valid record batch v2 with kmsg and a correct CRC-32C.
func build(s spec) []byte {
	if s.n == 0 {
		s.n = 1
	}
	var records []byte
	for i := 0; i < s.n; i++ {
		r := kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Key:              []byte{s.valSeed, byte(i)},
			Value:            bytes.Repeat([]byte{s.valSeed + byte(i)}, s.size),
		}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1) // Length 0 took one varint byte
		records = r.AppendTo(records)
	}
	rb := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: int32(s.n - 1),
		FirstTimestamp:  s.ts,
		MaxTimestamp:    s.ts + int64(s.n-1),
		ProducerID:      s.pid,
		ProducerEpoch:   s.epoch,
		FirstSequence:   s.seq,
		NumRecords:      int32(s.n),
		Records:         records,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func plain(n, size int, ts int64) []byte {
	return build(spec{n: n, size: size, ts: ts, pid: -1, epoch: -1, seq: -1})
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T, dir string, mode SyncMode) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Sync: mode, RetentionCheckInterval: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPartition(t *testing.T, s *Store, topic string, configs map[string]string) *Partition {
	t.Helper()
	if _, ok := s.Topic(topic); !ok {
		if _, err := s.CreateTopic(topic, 1, configs); err != nil {
			t.Fatalf("create topic: %v", err)
		}
	}
	p, err := s.Partition(topic, 0)
	if err != nil {
		t.Fatalf("partition: %v", err)
	}
	return p
}

func appendSync(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	res, err := p.Append(b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	ctx, cancel := testContext()
	defer cancel()
	if err := p.Sync(ctx, res.LastOffset); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

// readAll reads every visible batch from offset from and returns them
// split into batches, checking that offsets are contiguous.
func readAll(t *testing.T, p *Partition, from int64, maxBytes int32) [][]byte {
	t.Helper()
	var out [][]byte
	next := from
	for {
		res, err := p.Read(next, maxBytes)
		if err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if len(res.Data) == 0 {
			if next != res.HighWatermark {
				t.Fatalf("empty read at %d below high watermark %d", next, res.HighWatermark)
			}
			return out
		}
		hs, err := parseBatches(res.Data, nil)
		if err != nil {
			t.Fatalf("read %d returned bad batches: %v", next, err)
		}
		for _, h := range hs {
			if h.baseOffset > next || h.baseOffset+int64(h.lastOffsetDelta) < next {
				t.Fatalf("batch [%d, %d] does not hold expected offset %d", h.baseOffset, h.baseOffset+int64(h.lastOffsetDelta), next)
			}
			out = append(out, res.Data[h.pos:h.pos+h.size])
			next = h.baseOffset + int64(h.lastOffsetDelta) + 1
		}
	}
}

// sameRecords reports whether two batches carry the same records (bytes
// from attributes on, ignoring offset, epoch and CRC fields).
func sameRecords(a, b []byte) bool {
	return len(a) == len(b) && bytes.Equal(a[offAttributes:], b[offAttributes:])
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
