package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// Produce: v0-11
//
// Behavior:
//   - Record batches v2 (magic 2) only, stored as sent (compressed or not;
//     gzip, snappy, lz4 and zstd alike) after the store checks lengths and
//     CRC. Message sets with magic 0 or 1 (what v0-v2 clients send) get
//     UNSUPPORTED_FOR_MESSAGE_FORMAT; a bad CRC or a truncated batch gets
//     CORRUPT_MESSAGE; a batch over the topic's max.message.bytes gets
//     MESSAGE_TOO_LARGE; a record without a key on a compacted topic gets
//     INVALID_RECORD (CORRUPT_MESSAGE before v8, as Kafka 2.3 answered). v0 is advertised because librdkafka 2.0 compresses
//     only when it is.
//   - acks 0: appended, no response is written (on an error the connection
//     is closed, as Kafka does, so the client notices); acks 1: answered
//     once appended; acks -1 (all): answered once durable (Partition.Sync:
//     the group-committed fsync in the default durability mode). Other acks
//     values get INVALID_REQUIRED_ACKS.
//   - Idempotent producers: a retried batch is answered with its original
//     offsets without being appended again; a sequence gap gets
//     OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH.
//   - Transactions: a transactional batch needs the request's
//     transactional id, whose transaction (txn package) must be Ongoing
//     with the partition added and the batch's producer id and epoch:
//     else INVALID_PRODUCER_EPOCH for an older epoch (a fenced zombie),
//     INVALID_PRODUCER_ID_MAPPING for another producer id and
//     INVALID_TXN_STATE otherwise; the check and the append happen under
//     the coordinator's read lock, so no marker can come between them.
//     Without a coordinator a transactional id or batch gets
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED. Control batches from clients
//     get INVALID_RECORD (only the coordinator writes markers).
//   - Internal topics (__consumer_offsets, __transaction_state) get
//     INVALID_TOPIC_EXCEPTION.
//   - Unknown topics and partitions get UNKNOWN_TOPIC_OR_PARTITION (Produce
//     never auto-creates; Metadata does when enabled).
//   - Per-partition errors; a failing partition never fails its siblings.
//     The request timeout is not enforced: an acks=all answer waits for the
//     fsync however long it takes.

func init() { Register(kmsg.Produce.Int16(), 0, 11, handleProduce) }

// Offsets into a record batch (magic 2) header; the v0/v1 message set
// header has its magic byte at the same offset.
const (
	batchMagicOffset = 16
	batchAttrOffset  = 21
	batchHeaderLen   = 61
	attrTransaction  = 0x10
	attrControl      = 0x20
)

type produceSync struct {
	p    *storage.Partition
	last int64
	rp   *kmsg.ProduceResponseTopicPartition
}

func handleProduce(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var (
		syncs  []produceSync
		failed error
	)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for ti, rt := range req.Topics {
		for pi, rp := range rt.Partitions {
			sp := &resp.Topics[ti].Partitions[pi]
			code, part, res := s.produceOne(req, rt.Topic, rp)
			if code != 0 {
				sp.ErrorCode = code
				s.metrics.produceErrors.WithLabelValues(errorName(code)).Inc()
				if failed == nil {
					failed = fmt.Errorf("topic %s partition %d: %w", rt.Topic, rp.Partition, kerr.ErrorForCode(code))
				}
				continue
			}
			sp.BaseOffset = res.BaseOffset
			sp.LogAppendTime = res.LogAppendTime
			sp.LogStartOffset = res.LogStartOffset
			if !res.Duplicate {
				s.metrics.records.WithLabelValues(rt.Topic).Add(float64(res.LastOffset - res.BaseOffset + 1))
				s.metrics.appendBytes.WithLabelValues(rt.Topic).Add(float64(len(rp.Records)))
			}
			if req.Acks == -1 {
				syncs = append(syncs, produceSync{p: part, last: res.LastOffset, rp: sp})
			}
		}
	}
	// One group-commit round for every partition appended above (acks 0
	// and 1 too: in the default durability mode records become visible to
	// consumers once fsynced).
	s.store.StartSync()
	if req.Acks == 0 {
		if failed != nil {
			return Reply{}, fmt.Errorf("acks=0 produce failed, closing the connection: %w", failed)
		}
		return Reply{}, nil
	}
	if len(syncs) == 0 {
		return Reply{Resp: resp}, nil
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		start := time.Now()
		for _, ps := range syncs {
			if err := ps.p.Sync(ctx, ps.last); err != nil {
				ps.rp.ErrorCode = s.partitionErrorCode(ps.p, err)
				s.log.Warn("produce sync failed", "err", err)
			}
		}
		s.metrics.syncLatency.Observe(time.Since(start).Seconds())
		return resp
	}}, nil
}

// produceOne validates and appends one partition's records.
func (s *Server) produceOne(req *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition) (int16, *storage.Partition, storage.AppendResult) {
	var none storage.AppendResult
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return kerr.InvalidRequiredAcks.Code, nil, none
	}
	if req.TransactionID != nil && s.cfg.Txns == nil {
		return kerr.TransactionalIDAuthorizationFailed.Code, nil, none
	}
	if _, ok := internalTopic(topic); ok {
		return kerr.InvalidTopicException.Code, nil, none
	}
	part, err := s.store.Partition(topic, rp.Partition)
	if err != nil {
		return errorCode(err), nil, none
	}
	code, transactional := checkBatches(rp.Records)
	if code != 0 {
		return code, nil, none
	}
	if transactional {
		if req.TransactionID == nil || s.cfg.Txns == nil {
			return kerr.TransactionalIDAuthorizationFailed.Code, nil, none
		}
		pid := int64(binary.BigEndian.Uint64(rp.Records[43:]))
		epoch := int16(binary.BigEndian.Uint16(rp.Records[51:]))
		release, terr := s.cfg.Txns.InTxn(*req.TransactionID, pid, epoch, topic, rp.Partition)
		if terr != nil {
			return terr.Code, nil, none
		}
		defer release()
	}
	res, err := part.AppendDeferred(rp.Records)
	if err != nil {
		if code := s.partitionErrorCode(part, err); code != kerr.KafkaStorageError.Code {
			return produceErrorCode(req.Version, code), nil, none
		}
		s.log.Error("append failed", "topic", topic, "partition", rp.Partition, "err", err)
		return kerr.KafkaStorageError.Code, nil, none
	}
	return 0, part, res
}

// checkBatches looks at each batch header for what the store does not
// judge: the message format (magic), control batches and whether the
// batches are transactional (all or none; with one producer id and epoch).
// Lengths and CRCs are the store's to check.
func checkBatches(b []byte) (code int16, transactional bool) {
	if len(b) == 0 {
		return kerr.CorruptMessage.Code, false
	}
	if len(b) >= batchHeaderLen {
		transactional = binary.BigEndian.Uint16(b[batchAttrOffset:])&attrTransaction != 0
	}
	first := b
	for len(b) > 0 {
		if code := checkBatch(b, first, transactional); code != 0 {
			return code, false
		}
		b = b[int64(int32(binary.BigEndian.Uint32(b[8:12])))+12:]
	}
	return 0, transactional
}

// checkBatch checks the batch at the start of b (the request's first batch
// is first); a non-zero code means b must not be walked further.
func checkBatch(b, first []byte, transactional bool) int16 {
	if len(b) <= batchMagicOffset {
		return kerr.CorruptMessage.Code
	}
	if b[batchMagicOffset] != 2 {
		if b[batchMagicOffset] < 2 {
			return kerr.UnsupportedForMessageFormat.Code
		}
		return kerr.CorruptMessage.Code
	}
	if len(b) < batchHeaderLen {
		return kerr.CorruptMessage.Code
	}
	attrs := binary.BigEndian.Uint16(b[batchAttrOffset:])
	switch {
	case attrs&attrControl != 0:
		return kerr.InvalidRecord.Code
	case (attrs&attrTransaction != 0) != transactional:
		return kerr.InvalidRecord.Code
	case transactional && string(b[43:53]) != string(first[43:53]):
		return kerr.InvalidRecord.Code // another producer id or epoch
	}
	n := int64(int32(binary.BigEndian.Uint32(b[8:12]))) + 12
	if n < batchHeaderLen || n > int64(len(b)) {
		return kerr.CorruptMessage.Code
	}
	return 0
}
