package server

import "github.com/twmb/franz-go/pkg/kmsg"

// OffsetFetch: v0-9
//
// Behavior:
//   - Returns each asked-for partition's committed offset, leader epoch and
//     metadata, or offset -1 when nothing is committed (also for unknown
//     groups and topics).
//   - Topics null (v2+) returns every committed offset of the group whose
//     partition still exists.
//   - v8+ asks for several groups at once; each gets its own error code.
//   - RequireStable (v7+) never waits: without transactions no commit is
//     pending.
//   - v9's member id and epoch belong to KIP-848 groups, which are not served;
//     they are ignored. v10 (topic ids) is not served.

func init() { Register(kmsg.OffsetFetch.Int16(), 0, 9, handleOffsetFetch) }

func handleOffsetFetch(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.OffsetFetch(req)}, nil
}
