package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/txn"
)

// AddPartitionsToTxn: v0-3
//
// Behavior:
//   - Adds partitions to the producer's transaction, starting it; the
//     change is durable before the answer. A client must add a partition
//     before producing to it transactionally (v4+, the broker-to-broker
//     batched form of KIP-890, is not served, so clients keep to v3).
//   - Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION and the others of
//     the request OPERATION_NOT_ATTEMPTED; a producer id that is not the
//     transactional id's gets INVALID_PRODUCER_ID_MAPPING, another epoch
//     PRODUCER_FENCED (INVALID_PRODUCER_EPOCH below v2), a transaction
//     being ended CONCURRENT_TRANSACTIONS.
//   - Without a coordinator: COORDINATOR_NOT_AVAILABLE.

func init() { Register(kmsg.AddPartitionsToTxn.Int16(), 0, 3, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	parts := txn.TopicPartitions{}
	for _, t := range req.Topics {
		parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
	}
	var (
		all  *kerr.Error
		each map[string]map[int32]*kerr.Error
	)
	if s.cfg.Txns == nil {
		all = kerr.CoordinatorNotAvailable
	} else {
		all, each = s.cfg.Txns.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			rp.ErrorCode = fenced(all, r.Version, 2)
			if e := each[t.Topic][p]; e != nil {
				rp.ErrorCode = e.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return Reply{Resp: resp}, nil
}
