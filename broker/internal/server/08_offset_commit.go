package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit: v0-9
//
// Behavior:
//   - Members of a group commit with their member id and generation: a stale
//     generation gets ILLEGAL_GENERATION, an unknown member UNKNOWN_MEMBER_ID,
//     a group between join and sync REBALANCE_IN_PROGRESS, a fenced static
//     instance FENCED_INSTANCE_ID.
//   - Generation -1 without a member id (every v0 commit) is a "simple"
//     commit, accepted for a group without members (created if missing).
//   - A commit for an unknown topic or partition gets
//     UNKNOWN_TOPIC_OR_PARTITION; metadata over 4096 bytes
//     OFFSET_METADATA_TOO_LARGE. v2-v4 retention times are ignored (the
//     broker's offsets retention applies).
//   - The commit takes effect in request order and is answered once it is
//     fsynced (commits arriving meanwhile share the fsync).
//   - v10 (topic ids) is not served.

func init() { Register(kmsg.OffsetCommit.Int16(), 0, 9, handleOffsetCommit) }

func handleOffsetCommit(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	wait := c.BeginOffsetCommit(req)
	return Reply{Later: func(ctx context.Context) kmsg.Response { return wait() }}, nil
}
