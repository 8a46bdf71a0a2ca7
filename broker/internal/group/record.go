package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record kinds stored in the group log and snapshot (see doc.go for the layout).
const (
	kindOffset       byte = 1 // a committed offset (upsert of group/topic/partition)
	kindOffsetDelete byte = 2 // a committed offset removed (OffsetDelete, retention, deleted topic)
	kindGroup        byte = 3 // group metadata (upsert)
	kindGroupDelete  byte = 4 // group and all its offsets removed
)

const (
	frameHeaderLen = 8        // uint32 payload length + uint32 CRC-32C
	maxPayloadLen  = 64 << 20 // a record larger than this is corrupt
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is returned by decoders when bytes do not form a valid record.
var errCorrupt = errors.New("corrupt group record")

// record is one durable change: exactly one of the pointer fields is set, per kind.
type record struct {
	kind   byte
	group  string
	offset offsetRecord // kindOffset, kindOffsetDelete (topic/partition only)
	meta   groupRecord  // kindGroup
}

// offsetRecord is a committed offset of one partition.
type offsetRecord struct {
	Topic        string
	Partition    int32
	Offset       int64
	LeaderEpoch  int32
	Metadata     string
	CommitMillis int64
}

// groupRecord is the durable part of a group's metadata.
type groupRecord struct {
	ProtocolType string
	Protocol     string
	Leader       string
	Generation   int32
	State        string // State name at the time of writing (Empty or Stable)
	StateMillis  int64  // when the group entered State; for Empty the offsets retention clock
	Members      []memberRecord
}

// memberRecord is the durable part of a member.
type memberRecord struct {
	ID                 string
	InstanceID         string
	ClientID           string
	ClientHost         string
	SessionTimeoutMs   int32
	RebalanceTimeoutMs int32
	ProtocolMetadata   []byte // metadata for the group's chosen protocol
	Assignment         []byte
}

// appendFrame appends one framed record (length, CRC-32C, payload) to dst.
func appendFrame(dst []byte, r *record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = appendPayload(dst, r)
	putFrameHeader(dst[start:])
	return dst
}

// putFrameHeader fills the length and CRC of the frame that is all of b.
func putFrameHeader(b []byte) {
	payload := b[frameHeaderLen:]
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(payload, castagnoli))
}

func appendPayload(dst []byte, r *record) []byte {
	dst = append(dst, r.kind)
	dst = appendString(dst, r.group)
	switch r.kind {
	case kindOffset:
		o := &r.offset
		dst = appendString(dst, o.Topic)
		dst = binary.AppendVarint(dst, int64(o.Partition))
		dst = binary.AppendVarint(dst, o.Offset)
		dst = binary.AppendVarint(dst, int64(o.LeaderEpoch))
		dst = appendString(dst, o.Metadata)
		dst = binary.AppendVarint(dst, o.CommitMillis)
	case kindOffsetDelete:
		dst = appendString(dst, r.offset.Topic)
		dst = binary.AppendVarint(dst, int64(r.offset.Partition))
	case kindGroup:
		g := &r.meta
		dst = appendString(dst, g.ProtocolType)
		dst = appendString(dst, g.Protocol)
		dst = appendString(dst, g.Leader)
		dst = binary.AppendVarint(dst, int64(g.Generation))
		dst = appendString(dst, g.State)
		dst = binary.AppendVarint(dst, g.StateMillis)
		dst = binary.AppendUvarint(dst, uint64(len(g.Members)))
		for i := range g.Members {
			m := &g.Members[i]
			dst = appendString(dst, m.ID)
			dst = appendString(dst, m.InstanceID)
			dst = appendString(dst, m.ClientID)
			dst = appendString(dst, m.ClientHost)
			dst = binary.AppendVarint(dst, int64(m.SessionTimeoutMs))
			dst = binary.AppendVarint(dst, int64(m.RebalanceTimeoutMs))
			dst = appendBytes(dst, m.ProtocolMetadata)
			dst = appendBytes(dst, m.Assignment)
		}
	case kindGroupDelete:
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// readFrame decodes the first framed record of b. It returns the record and the
// number of bytes consumed. io errors are not possible; a short or damaged frame
// returns errCorrupt (wrapped with the reason).
func readFrame(b []byte) (record, int, error) {
	if len(b) < frameHeaderLen {
		return record{}, 0, fmt.Errorf("%w: short header (%d bytes)", errCorrupt, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > maxPayloadLen {
		return record{}, 0, fmt.Errorf("%w: payload length %d", errCorrupt, n)
	}
	if uint64(len(b)-frameHeaderLen) < uint64(n) {
		return record{}, 0, fmt.Errorf("%w: short payload (%d of %d bytes)", errCorrupt, len(b)-frameHeaderLen, n)
	}
	payload := b[frameHeaderLen : frameHeaderLen+int(n)]
	if crc := crc32.Checksum(payload, castagnoli); crc != binary.BigEndian.Uint32(b[4:]) {
		return record{}, 0, fmt.Errorf("%w: CRC mismatch", errCorrupt)
	}
	r, err := decodePayload(payload)
	if err != nil {
		return record{}, 0, err
	}
	return r, frameHeaderLen + int(n), nil
}

// decoder reads fields from a payload and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32(what string) int32 {
	v := d.varint(what)
	if v < -1<<31 || v > 1<<31-1 {
		d.fail(what)
		return 0
	}
	return int32(v)
}

func (d *decoder) bytes(what string) []byte {
	l, n := binary.Uvarint(d.b)
	if n <= 0 || l > uint64(len(d.b)-n) {
		d.fail(what)
		return nil
	}
	v := d.b[n : n+int(l)]
	d.b = d.b[n+int(l):]
	return v
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func (d *decoder) blob(what string) []byte {
	v := d.bytes(what)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

func decodePayload(p []byte) (record, error) {
	if len(p) == 0 {
		return record{}, fmt.Errorf("%w: empty payload", errCorrupt)
	}
	d := decoder{b: p[1:]}
	r := record{kind: p[0]}
	r.group = d.string("group")
	switch r.kind {
	case kindOffset:
		o := &r.offset
		o.Topic = d.string("topic")
		o.Partition = d.int32("partition")
		o.Offset = d.varint("offset")
		o.LeaderEpoch = d.int32("leader epoch")
		o.Metadata = d.string("metadata")
		o.CommitMillis = d.varint("commit time")
	case kindOffsetDelete:
		r.offset.Topic = d.string("topic")
		r.offset.Partition = d.int32("partition")
	case kindGroup:
		g := &r.meta
		g.ProtocolType = d.string("protocol type")
		g.Protocol = d.string("protocol")
		g.Leader = d.string("leader")
		g.Generation = d.int32("generation")
		g.State = d.string("state")
		g.StateMillis = d.varint("state time")
		count, n := binary.Uvarint(d.b)
		// Each member takes at least 8 bytes, which bounds the allocation by the input.
		if n <= 0 || count > uint64(len(d.b))/8 {
			d.fail("member count")
			break
		}
		d.b = d.b[n:]
		g.Members = make([]memberRecord, count)
		for i := range g.Members {
			m := &g.Members[i]
			m.ID = d.string("member id")
			m.InstanceID = d.string("instance id")
			m.ClientID = d.string("client id")
			m.ClientHost = d.string("client host")
			m.SessionTimeoutMs = d.int32("session timeout")
			m.RebalanceTimeoutMs = d.int32("rebalance timeout")
			m.ProtocolMetadata = d.blob("member metadata")
			m.Assignment = d.blob("member assignment")
		}
	case kindGroupDelete:
	default:
		return record{}, fmt.Errorf("%w: unknown kind %d", errCorrupt, r.kind)
	}
	if d.err != nil {
		return record{}, d.err
	}
	if len(d.b) != 0 {
		return record{}, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return r, nil
}
