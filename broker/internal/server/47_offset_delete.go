package server

import "github.com/twmb/franz-go/pkg/kmsg"

// OffsetDelete: v0
//
// Behavior:
//   - Removes committed offsets of a group, durably. For a consumer group
//     with members, partitions of topics a member subscribes to get
//     GROUP_SUBSCRIBED_TO_TOPIC; a non-consumer group with members gets
//     NON_EMPTY_GROUP.
//   - GROUP_ID_NOT_FOUND for an unknown group; UNKNOWN_TOPIC_OR_PARTITION
//     per partition that does not exist.

func init() { Register(kmsg.OffsetDelete.Int16(), 0, 0, handleOffsetDelete) }

func handleOffsetDelete(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.OffsetDelete(req)}, nil
}
