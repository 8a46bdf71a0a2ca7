package server

import "github.com/twmb/franz-go/pkg/kmsg"

// DescribeGroups: v0-5
//
// Behavior:
//   - State, protocol type, protocol and members (client id, host, instance
//     id) of each group; member metadata and assignments once Stable.
//   - An unknown group is reported as state Dead without error (v6's
//     GROUP_ID_NOT_FOUND is not served). Authorized operations are not
//     computed (INT32_MIN).

func init() { Register(kmsg.DescribeGroups.Int16(), 0, 5, handleDescribeGroups) }

func handleDescribeGroups(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	c := s.coordinator()
	if c == nil {
		return Reply{Resp: noCoordinator(req)}, nil
	}
	return Reply{Resp: c.DescribeGroups(req)}, nil
}
