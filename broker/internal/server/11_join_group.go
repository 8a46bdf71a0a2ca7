package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup: v0-9
//
// Behavior:
//   - Classic group protocol, any client-side assignor: the broker picks the
//     protocol every member supports, hands the leader all members' metadata
//     and waits for every known member to rejoin (or its rebalance timeout;
//     v0 uses the session timeout) before answering.
//   - v4+: a new dynamic member first gets MEMBER_ID_REQUIRED with its id
//     (KIP-394). v5+: static membership by group.instance.id; a restarted
//     static member gets a new id, the old one is fenced (FENCED_INSTANCE_ID)
//     and a stable group keeps its assignment without a rebalance.
//   - Errors: INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT (outside the broker's
//     min/max), INCONSISTENT_GROUP_PROTOCOL (no protocol type or no common
//     protocol), UNKNOWN_MEMBER_ID, INVALID_REQUEST (protocol metadata over
//     1 MiB), GROUP_MAX_SIZE_REACHED.
//   - The join applies in request order; the wait runs while the connection
//     keeps serving its other requests (heartbeats, commits).
//   - v9's SkipAssignment is never set: a static leader rejoining triggers a
//     normal rebalance.

func init() { Register(kmsg.JoinGroup.Int16(), 0, 9, handleJoinGroup) }

func handleJoinGroup(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.JoinGroupRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	wait := c.BeginJoinGroup(groupClient(r), req)
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		ctx, cancel := s.untilStopping(ctx)
		defer cancel()
		return wait(ctx)
	}}, nil
}
