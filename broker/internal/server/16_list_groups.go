package server

import "github.com/twmb/franz-go/pkg/kmsg"

// ListGroups: v0-4
//
// Behavior:
//   - Every group with its protocol type (and state, v4+), sorted by id.
//   - v4's states filter matches case-insensitively; empty means all.
//     v5's type filter is not served (all groups are classic).

func init() { Register(kmsg.ListGroups.Int16(), 0, 4, handleListGroups) }

func handleListGroups(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.ListGroupsRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.ListGroups(req)}, nil
}
