package server

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2
//
// Behavior:
//   - Advances each partition's log start offset to the requested offset
//     (-1: the high watermark) and answers the new log start offset as the
//     low watermark. Records below it are no longer readable at once; the
//     segments holding only such records are removed by retention. An
//     offset above the high watermark gets OFFSET_OUT_OF_RANGE.
//   - Unknown topics or partitions get UNKNOWN_TOPIC_OR_PARTITION.

func init() { Register(kmsg.DeleteRecords.Int16(), 0, 2, handleDeleteRecords) }

func handleDeleteRecords(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p, err := s.store.Partition(rt.Topic, rp.Partition)
			if err == nil {
				sp.LowWatermark, err = p.DeleteRecords(rp.Offset)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.LowWatermark = -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Reply{Resp: resp}, nil
}
