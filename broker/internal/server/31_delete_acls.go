package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// DeleteAcls: v0-3
//
// Behavior:
//   - Deletes, durably and in one write, every ACL each filter selects (the
//     same filters as DescribeAcls) and answers them per filter. A filter
//     with an unknown enum gets INVALID_REQUEST and deletes nothing.
//   - Without Security.ACLs: SECURITY_DISABLED. Needs ALTER on the cluster.

func init() { Register(kmsg.DeleteACLs.Int16(), 0, 3, handleDeleteAcls) }

func handleDeleteAcls(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	store := s.aclStore()
	var filters []auth.Filter
	var idx []int
	for i, rf := range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		f := auth.Filter{ResourceType: rf.ResourceType, ResourceName: rf.ResourceName, PatternType: rf.ResourcePatternType,
			Principal: rf.Principal, Host: rf.Host, Operation: rf.Operation, Permission: rf.PermissionType}
		if r.Version == 0 {
			f.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		switch err := f.ValidateFilter(); {
		case store == nil:
			res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr("the broker runs without security")
		case err != nil:
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		default:
			filters, idx = append(filters, f), append(idx, i)
		}
		resp.Results = append(resp.Results, res)
	}
	if len(filters) == 0 {
		return Reply{Resp: resp}, nil
	}
	deleted, err := store.Delete(filters)
	if err != nil {
		s.log.Error("delete acls", "err", err)
		for _, i := range idx {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr("storing the ACLs failed")
		}
		return Reply{Resp: resp}, nil
	}
	for j, i := range idx {
		for _, a := range deleted[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
		}
	}
	return Reply{Resp: resp}, nil
}
