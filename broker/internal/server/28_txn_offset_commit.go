package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/txn"
)

// TxnOffsetCommit: v0-3
//
// Behavior:
//   - Stages offsets in the producer's transaction (durably); they become
//     the group's committed offsets only when the transaction commits and
//     are dropped when it aborts. OffsetFetch does not see them before.
//   - The group must have been added with AddOffsetsToTxn, else
//     INVALID_TXN_STATE. v3+ (KIP-447): the member id and generation are
//     checked against the group like an OffsetCommit (ILLEGAL_GENERATION,
//     UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID), so a
//     zombie of an older generation cannot commit.
//   - Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION; metadata over
//     4096 bytes OFFSET_METADATA_TOO_LARGE; producer errors as
//     AddPartitionsToTxn (PRODUCER_FENCED from v3).

func init() { Register(kmsg.TxnOffsetCommit.Int16(), 0, 3, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	var all int16
	switch {
	case s.cfg.Txns == nil || s.coordinator() == nil:
		all = kerr.CoordinatorNotAvailable.Code
	case r.Version >= 3:
		instance := ""
		if req.InstanceID != nil {
			instance = *req.InstanceID
		}
		if e := s.coordinator().CheckTxnCommitter(req.Group, req.MemberID, instance, req.Generation); e != nil {
			all = e.Code
		}
	case req.Group == "":
		all = kerr.InvalidGroupID.Code
	}
	var offsets []txn.Offset
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = all
			if all == 0 {
				meta := ""
				if p.Metadata != nil {
					meta = *p.Metadata
				}
				switch {
				case !(txnLog{s.store}).PartitionExists(t.Topic, p.Partition):
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case len(meta) > 4096:
					rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				default:
					epoch := int32(-1)
					if r.Version >= 2 {
						epoch = p.LeaderEpoch
					}
					offsets = append(offsets, txn.Offset{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch, Metadata: meta})
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if all != 0 || len(offsets) == 0 {
		return Reply{Resp: resp}, nil
	}
	if code := fenced(s.cfg.Txns.CommitOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offsets), r.Version, 3); code != 0 {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if rp := &resp.Topics[i].Partitions[j]; rp.ErrorCode == 0 {
					rp.ErrorCode = code
				}
			}
		}
	}
	return Reply{Resp: resp}, nil
}
