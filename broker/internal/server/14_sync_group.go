package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup: v0-5
//
// Behavior:
//   - The leader's SyncGroup carries every member's assignment; each member's
//     SyncGroup waits for it and gets its share. In a Stable group a member
//     gets its current assignment again.
//   - Errors: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS
//     (a new rebalance began), FENCED_INSTANCE_ID (v3+),
//     INCONSISTENT_GROUP_PROTOCOL (v5+ protocol type/name mismatch),
//     INVALID_REQUEST for an assignment over 1 MiB (the group rebalances).
//   - If the leader sends no assignment within the rebalance timeout the
//     group starts over.

func init() { Register(kmsg.SyncGroup.Int16(), 0, 5, handleSyncGroup) }

func handleSyncGroup(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.SyncGroupRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	wait := c.BeginSyncGroup(req)
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		ctx, cancel := s.untilStopping(ctx)
		defer cancel()
		return wait(ctx)
	}}, nil
}
