package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v0-4
//
// Behavior:
//   - Every partition has had one leader epoch, 0, since it was created.
//     Asking for epoch 0 (or any epoch above it, as clients do to validate
//     their position) answers epoch 0 with the high watermark as its end
//     offset; asking for an epoch below 0 answers UNDEFINED (-1, -1).
//   - A current leader epoch (v2+) above 0 gets UNKNOWN_LEADER_EPOCH.
//   - Unknown topics or partitions get UNKNOWN_TOPIC_OR_PARTITION.
//   - Follower requests (v3+ ReplicaID >= 0) are answered the same way.

func init() { Register(kmsg.OffsetForLeaderEpoch.Int16(), 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, err := s.store.Partition(rt.Topic, rp.Partition)
			switch {
			case err != nil:
				sp.ErrorCode = errorCode(err)
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch >= 0:
				sp.LeaderEpoch, sp.EndOffset = 0, p.HighWatermark()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Reply{Resp: resp}, nil
}
