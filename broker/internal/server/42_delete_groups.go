package server

import "github.com/twmb/franz-go/pkg/kmsg"

// DeleteGroups: v0-2
//
// Behavior:
//   - Removes an empty group and its committed offsets, durably.
//   - NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND for an unknown
//     group, INVALID_GROUP_ID for an empty id.

func init() { Register(kmsg.DeleteGroups.Int16(), 0, 2, handleDeleteGroups) }

func handleDeleteGroups(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.DeleteGroups(req)}, nil
}
