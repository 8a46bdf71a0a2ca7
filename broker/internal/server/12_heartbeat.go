package server

import "github.com/twmb/franz-go/pkg/kmsg"

// Heartbeat: v0-4
//
// Behavior:
//   - Keeps a member's session alive. REBALANCE_IN_PROGRESS tells it to
//     rejoin; ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID (also for a member the
//     session timeout evicted) and FENCED_INSTANCE_ID (v3+) as in Kafka.

func init() { Register(kmsg.Heartbeat.Int16(), 0, 4, handleHeartbeat) }

func handleHeartbeat(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.HeartbeatRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.Heartbeat(req)}, nil
}
