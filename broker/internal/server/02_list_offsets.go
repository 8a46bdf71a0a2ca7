package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v0-8
//
// Behavior:
//   - Timestamp -2 (earliest): the log start offset; -1 (latest): the high
//     watermark; -3 (max timestamp, v7+): the offset and timestamp of the
//     record with the largest timestamp; -4 (earliest local, v8+): the log
//     start offset (all data is local); any other timestamp t >= 0: the
//     first offset whose timestamp is >= t, or offset -1 and timestamp -1 if
//     none (Kafka's answer).
//   - v0 answers in OldStyleOffsets (one offset, or none when a timestamp
//     matches nothing).
//   - Isolation level 1 (read_committed, v2+): latest is the last stable
//     offset, and timestamp lookups and the max timestamp never answer an
//     offset at or above it; level 0 uses the high watermark.
//   - Internal topics (__consumer_offsets, __transaction_state) are empty:
//     offset 0.
//   - Leader epoch (v4+) is 0; a current leader epoch above 0 gets
//     UNKNOWN_LEADER_EPOCH. Unknown topics or partitions get
//     UNKNOWN_TOPIC_OR_PARTITION.

func init() { Register(kmsg.ListOffsets.Int16(), 0, 8, handleListOffsets) }

func handleListOffsets(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			s.listOffset(r.Version, req.IsolationLevel == 1 && r.Version >= 2, rt.Topic, rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Reply{Resp: resp}, nil
}

func (s *Server) listOffset(version int16, committed bool, topic string, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	if n, ok := internalTopic(topic); ok {
		if rp.Partition < 0 || rp.Partition >= n {
			sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			return
		}
		sp.Offset, sp.Timestamp = 0, -1
		if version == 0 {
			sp.OldStyleOffsets = []int64{0}
		}
		return
	}
	p, err := s.store.Partition(topic, rp.Partition)
	if err != nil {
		sp.ErrorCode = errorCode(err)
		return
	}
	if rp.CurrentLeaderEpoch > 0 {
		sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
		return
	}
	offset, ts := int64(-1), int64(-1)
	switch rp.Timestamp {
	case -2, -4:
		offset = p.LogStartOffset()
	case -1:
		offset = p.HighWatermark()
		if committed {
			offset = p.LastStableOffset()
		}
	case -3:
		offset, ts = p.MaxTimestamp()
	default:
		if rp.Timestamp < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		offset, ts = p.OffsetForTime(rp.Timestamp)
	}
	if committed && rp.Timestamp != -1 && rp.Timestamp != -2 && rp.Timestamp != -4 && offset >= p.LastStableOffset() {
		offset, ts = -1, -1
	}
	sp.LeaderEpoch = 0
	if version == 0 {
		if offset >= 0 {
			sp.OldStyleOffsets = []int64{offset}
		}
		return
	}
	sp.Offset, sp.Timestamp = offset, ts
}
