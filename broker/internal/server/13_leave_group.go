package server

import "github.com/twmb/franz-go/pkg/kmsg"

// LeaveGroup: v0-5
//
// Behavior:
//   - v0-v2 remove one member by id; v3+ remove a batch, each by member id
//     and/or group.instance.id, with an error code per member
//     (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID). The rest of the group
//     rebalances at once instead of waiting for a session timeout.
//   - v5's reason is ignored.

func init() { Register(kmsg.LeaveGroup.Int16(), 0, 5, handleLeaveGroup) }

func handleLeaveGroup(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.LeaveGroup(req)}, nil
}
