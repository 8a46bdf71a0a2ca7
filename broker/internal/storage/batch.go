package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Record batch v2 header layout (big endian), as Kafka defines it.
const (
	offBaseOffset      = 0  // int64
	offBatchLength     = 8  // int32: bytes after this field
	offLeaderEpoch     = 12 // int32
	offMagic           = 16 // int8, 2
	offCRC             = 17 // uint32 CRC-32C of bytes [21, end)
	offAttributes      = 21 // int16
	offLastOffsetDelta = 23 // int32
	offBaseTimestamp   = 27 // int64
	offMaxTimestamp    = 35 // int64
	offProducerID      = 43 // int64
	offProducerEpoch   = 51 // int16
	offBaseSequence    = 53 // int32
	offRecordCount     = 57 // int32
	batchHeaderSize    = 61

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrControl         = 0x20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the part of a record batch header the store uses.
type batchHeader struct {
	pos             int   // position of the batch in its buffer or file
	size            int   // whole batch size in bytes (12 + batchLength)
	baseOffset      int64 // as found (producers send 0)
	lastOffsetDelta int32
	attributes      int16
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
}

// idempotent reports whether the batch takes part in sequence checks: it
// has a producer id and is not a control batch (control batches carry no
// sequence).
func (h *batchHeader) idempotent() bool {
	return h.producerID >= 0 && h.attributes&attrControl == 0
}

func (h *batchHeader) lastSequence() int32 {
	if h.baseSequence > math.MaxInt32-h.lastOffsetDelta {
		return h.lastOffsetDelta - (math.MaxInt32 - h.baseSequence) - 1
	}
	return h.baseSequence + h.lastOffsetDelta
}

// parseHeader decodes and checks the fixed header at the start of b, which
// holds at least batchHeaderSize bytes. It does not check the CRC.
func parseHeader(b []byte) (batchHeader, error) {
	be := binary.BigEndian
	length := int32(be.Uint32(b[offBatchLength:]))
	if length < batchHeaderSize-12 {
		return batchHeader{}, fmt.Errorf("%w: batch length %d below the header size", ErrCorruptBatch, length)
	}
	if b[offMagic] != 2 {
		return batchHeader{}, fmt.Errorf("%w: magic %d (only record batch v2 is supported)", ErrCorruptBatch, int8(b[offMagic]))
	}
	h := batchHeader{
		size:            int(length) + 12,
		baseOffset:      int64(be.Uint64(b[offBaseOffset:])),
		lastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		attributes:      int16(be.Uint16(b[offAttributes:])),
		maxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		producerID:      int64(be.Uint64(b[offProducerID:])),
		producerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		baseSequence:    int32(be.Uint32(b[offBaseSequence:])),
	}
	if h.lastOffsetDelta < 0 {
		return batchHeader{}, fmt.Errorf("%w: negative last offset delta %d", ErrCorruptBatch, h.lastOffsetDelta)
	}
	if rc := int32(be.Uint32(b[offRecordCount:])); rc < 0 {
		return batchHeader{}, fmt.Errorf("%w: negative record count %d", ErrCorruptBatch, rc)
	}
	return h, nil
}

// checkCRC verifies the CRC-32C of one whole batch.
func checkCRC(batch []byte) error {
	want := binary.BigEndian.Uint32(batch[offCRC:])
	if got := crc32.Checksum(batch[offAttributes:], crcTable); got != want {
		return fmt.Errorf("%w: CRC %08x, header says %08x", ErrCorruptBatch, got, want)
	}
	return nil
}

// parseBatches splits b into record batches, checking each one's length,
// magic and CRC, and appends their headers to hs. b must hold whole batches
// only, at least one.
func parseBatches(b []byte, hs []batchHeader) ([]batchHeader, error) {
	if len(b) == 0 {
		return hs, fmt.Errorf("%w: no record batch", ErrCorruptBatch)
	}
	for pos := 0; pos < len(b); {
		rest := b[pos:]
		if len(rest) < batchHeaderSize {
			return hs, fmt.Errorf("%w: %d trailing bytes, less than a batch header", ErrCorruptBatch, len(rest))
		}
		h, err := parseHeader(rest)
		if err != nil {
			return hs, err
		}
		if h.size > len(rest) {
			return hs, fmt.Errorf("%w: batch of %d bytes, only %d present", ErrCorruptBatch, h.size, len(rest))
		}
		if err := checkCRC(rest[:h.size]); err != nil {
			return hs, err
		}
		h.pos = pos
		hs = append(hs, h)
		pos += h.size
	}
	return hs, nil
}

// firstTimestampAtLeast returns the offset and timestamp of the first record
// in an uncompressed CreateTime batch whose timestamp is >= ts. For
// compressed or LogAppendTime batches, or when the records cannot be decoded,
// it returns the batch's base offset and max timestamp.
func firstTimestampAtLeast(batch []byte, ts int64) (int64, int64) {
	be := binary.BigEndian
	base := int64(be.Uint64(batch[offBaseOffset:]))
	maxTs := int64(be.Uint64(batch[offMaxTimestamp:]))
	attrs := be.Uint16(batch[offAttributes:])
	if attrs&attrCompressionMask != 0 || attrs&attrLogAppendTime != 0 {
		return base, maxTs
	}
	baseTs := int64(be.Uint64(batch[offBaseTimestamp:]))
	n := int(int32(be.Uint32(batch[offRecordCount:])))
	b := batch[batchHeaderSize:]
	for i := 0; i < n; i++ {
		length, w := binary.Varint(b)
		if w <= 0 || length < 0 || int64(len(b)-w) < length {
			break
		}
		rec := b[w : w+int(length)]
		b = b[w+int(length):]
		if len(rec) < 1 {
			break
		}
		tsDelta, w1 := binary.Varint(rec[1:])
		if w1 <= 0 {
			break
		}
		offDelta, w2 := binary.Varint(rec[1+w1:])
		if w2 <= 0 {
			break
		}
		if baseTs+tsDelta >= ts {
			return base + offDelta, baseTs + tsDelta
		}
	}
	return base, maxTs
}
