package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record-level access to batches, for what the store must look inside a
// batch for: the keys of records appended to a compacted topic and the
// cleaner's rewriting. Everything else treats batches as opaque bytes.

// attrDeleteHorizon is attribute bit 6 (KIP-534): the batch's baseTimestamp
// holds the delete horizon (the time after which its tombstones and
// markers may be removed) and its records' timestamp deltas are relative
// to it.
const attrDeleteHorizon = 0x40

// record is one decoded record of a batch (magic 2). The slices point into
// the decoded records buffer.
type record struct {
	offsetDelta int32
	tsDelta     int64
	key         []byte // nil: null key
	nullValue   bool   // a tombstone
	// afterTs is the record body from the offset delta to the end (offset
	// delta, key, value, headers), copied unchanged when the record is
	// re-encoded with another timestamp delta.
	afterTs []byte
	attrs   byte
}

var (
	decompressor = kgo.DefaultDecompressor()
	compressors  sync.Map // codec (int8) -> kgo.Compressor
)

// batchRecords returns the records section of a batch, decompressed if the
// batch is compressed.
func batchRecords(batch []byte) ([]byte, error) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:])
	raw := batch[batchHeaderSize:]
	codec := attrs & attrCompressionMask
	if codec == 0 {
		return raw, nil
	}
	if codec > 4 {
		return nil, fmt.Errorf("%w: compression codec %d", ErrCorruptBatch, codec)
	}
	out, err := decompressor.Decompress(raw, kgo.CompressionCodecType(codec))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrCorruptBatch, err)
	}
	return out, nil
}

// compressRecords compresses a records section with the batch's codec.
func compressRecords(codec int8, recs []byte) ([]byte, error) {
	c, ok := compressors.Load(codec)
	if !ok {
		var cc kgo.CompressionCodec
		switch codec {
		case 1:
			cc = kgo.GzipCompression()
		case 2:
			cc = kgo.SnappyCompression()
		case 3:
			cc = kgo.Lz4Compression()
		case 4:
			cc = kgo.ZstdCompression()
		default:
			return nil, fmt.Errorf("compression codec %d", codec)
		}
		nc, err := kgo.DefaultCompressor(cc)
		if err != nil {
			return nil, fmt.Errorf("compressor for codec %d: %w", codec, err)
		}
		c, _ = compressors.LoadOrStore(codec, nc)
	}
	var buf bytes.Buffer
	out, used := c.(kgo.Compressor).Compress(&buf, recs)
	if used != kgo.CompressionCodecType(codec) {
		return nil, fmt.Errorf("compress with codec %d failed", codec)
	}
	return append([]byte(nil), out...), nil
}

// nextRecord decodes the first record of b and returns it with the rest.
func nextRecord(b []byte) (record, []byte, error) {
	var r record
	length, n := binary.Varint(b)
	if n <= 0 || length < 1 || int64(len(b)-n) < length {
		return r, nil, fmt.Errorf("%w: bad record length", ErrCorruptBatch)
	}
	body := b[n : n+int(length)]
	rest := b[n+int(length):]
	r.attrs = body[0]
	p := body[1:]
	ts, n := binary.Varint(p)
	if n <= 0 {
		return r, nil, fmt.Errorf("%w: bad record timestamp delta", ErrCorruptBatch)
	}
	r.tsDelta = ts
	p = p[n:]
	r.afterTs = p
	od, n := binary.Varint(p)
	if n <= 0 || od < 0 || od > 1<<31-1 {
		return r, nil, fmt.Errorf("%w: bad record offset delta", ErrCorruptBatch)
	}
	r.offsetDelta = int32(od)
	p = p[n:]
	kl, n := binary.Varint(p)
	if n <= 0 || kl < -1 || kl > int64(len(p)-n) {
		return r, nil, fmt.Errorf("%w: bad record key length", ErrCorruptBatch)
	}
	p = p[n:]
	if kl >= 0 {
		r.key = p[:kl:kl]
		p = p[kl:]
	}
	vl, n := binary.Varint(p)
	if n <= 0 || vl < -1 || vl > int64(len(p)-n) {
		return r, nil, fmt.Errorf("%w: bad record value length", ErrCorruptBatch)
	}
	r.nullValue = vl < 0
	return r, rest, nil
}

// eachRecord calls fn for every record of a batch, in order.
func eachRecord(batch []byte, fn func(r *record)) error {
	recs, err := batchRecords(batch)
	if err != nil {
		return err
	}
	n := int(int32(binary.BigEndian.Uint32(batch[offRecordCount:])))
	for i := 0; i < n; i++ {
		r, rest, err := nextRecord(recs)
		if err != nil {
			return err
		}
		fn(&r)
		recs = rest
	}
	if len(recs) != 0 {
		return fmt.Errorf("%w: %d bytes after the last record", ErrCorruptBatch, len(recs))
	}
	return nil
}

// requireKeys checks that every record of the (non-control) batches hs in
// b has a key, as a compacted topic needs; a keyless record is
// ErrRecordWithoutKey.
func requireKeys(b []byte, hs []batchHeader) error {
	for i := range hs {
		h := &hs[i]
		if h.attributes&attrControl != 0 {
			continue
		}
		missing := false
		if err := eachRecord(b[h.pos:h.pos+h.size], func(r *record) { missing = missing || r.key == nil }); err != nil {
			return err
		}
		if missing {
			return ErrRecordWithoutKey
		}
	}
	return nil
}

// rebuildBatch encodes a batch holding the records keep of the original
// batch orig (in order), keeping its base offset, last offset delta,
// producer id, epoch, base sequence and compression. If horizon >= 0 the
// batch gets the delete horizon flag and horizon as its base timestamp; a
// batch that has one keeps it. Record timestamps are unchanged.
func rebuildBatch(orig []byte, keep []record, horizon int64) ([]byte, error) {
	be := binary.BigEndian
	attrs := be.Uint16(orig[offAttributes:])
	baseTs := int64(be.Uint64(orig[offBaseTimestamp:]))
	newBase := baseTs
	if horizon >= 0 && attrs&attrDeleteHorizon == 0 {
		attrs |= attrDeleteHorizon
		newBase = horizon
	}
	maxTs := int64(be.Uint64(orig[offMaxTimestamp:]))
	if attrs&attrLogAppendTime == 0 && len(keep) > 0 {
		maxTs = -1
		for i := range keep {
			maxTs = max(maxTs, baseTs+keep[i].tsDelta)
		}
	}
	var recs []byte
	var scratch [binary.MaxVarintLen64]byte
	for i := range keep {
		r := &keep[i]
		tsd := binary.PutVarint(scratch[:], baseTs+r.tsDelta-newBase)
		bodyLen := 1 + tsd + len(r.afterTs)
		recs = binary.AppendVarint(recs, int64(bodyLen))
		recs = append(recs, r.attrs)
		recs = append(recs, scratch[:tsd]...)
		recs = append(recs, r.afterTs...)
	}
	if codec := int8(attrs & attrCompressionMask); codec != 0 {
		var err error
		if recs, err = compressRecords(codec, recs); err != nil {
			return nil, err
		}
	}
	out := make([]byte, batchHeaderSize, batchHeaderSize+len(recs))
	copy(out, orig[:batchHeaderSize])
	out = append(out, recs...)
	be.PutUint32(out[offBatchLength:], uint32(len(out)-12))
	be.PutUint16(out[offAttributes:], attrs)
	be.PutUint64(out[offBaseTimestamp:], uint64(newBase))
	be.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	be.PutUint32(out[offRecordCount:], uint32(len(keep)))
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], crcTable))
	return out, nil
}
