package storage

import (
	"encoding/binary"
	"testing"
)

// FuzzParseBatches feeds arbitrary bytes to the record batch validator: it
// must never panic, and whatever it accepts must be whole, CRC-valid v2
// batches that exactly tile the input.
func FuzzParseBatches(f *testing.F) {
	one := plain(3, 20, 100)
	two := append(append([]byte(nil), one...), build(spec{n: 2, size: 5, pid: 9, epoch: 1, seq: 4})...)
	f.Add(one)
	f.Add(two)
	f.Add(one[:len(one)-1])
	f.Add(one[:batchHeaderSize])
	f.Add([]byte{})
	neg := append([]byte(nil), one...)
	binary.BigEndian.PutUint32(neg[offBatchLength:], 0xfffffff0)
	f.Add(neg)
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := parseBatches(b, nil)
		if err != nil {
			return
		}
		pos := 0
		for _, h := range hs {
			if h.pos != pos || h.size < batchHeaderSize || pos+h.size > len(b) {
				t.Fatalf("bad header %+v at %d of %d", h, pos, len(b))
			}
			if err := checkCRC(b[pos : pos+h.size]); err != nil {
				t.Fatal(err)
			}
			firstTimestampAtLeast(b[pos:pos+h.size], 0)
			pos += h.size
		}
		if pos != len(b) {
			t.Fatalf("accepted batches cover %d of %d bytes", pos, len(b))
		}
	})
}

// FuzzDecodeSnapshot checks that a damaged producer snapshot is rejected
// without a panic and a valid one round-trips.
func FuzzDecodeSnapshot(f *testing.F) {
	m := map[int64]*producerState{}
	h := batchHeader{producerID: 3, producerEpoch: 1, baseSequence: 0, lastOffsetDelta: 4}
	applyProducerBatch(m, &h, 10)
	f.Add(encodeSnapshot(m, []AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 9}}, 15))
	f.Add(encodeSnapshot(map[int64]*producerState{}, nil, 0))
	f.Add([]byte("FMPS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ab, off, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again := encodeSnapshot(m, ab, off)
		m2, _, off2, err := decodeSnapshot(again)
		if err != nil || off2 != off || len(m2) != len(m) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
