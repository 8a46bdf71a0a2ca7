package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// DescribeAcls: v0-3
//
// Behavior:
//   - Returns the ACLs the filter selects (resource type, name, pattern
//     type ANY/MATCH/LITERAL/PREFIXED (v1+; v0 is LITERAL), principal, host,
//     operation, permission), grouped by resource.
//   - A filter with an unknown enum gets INVALID_REQUEST; without
//     Security.ACLs, SECURITY_DISABLED. Needs DESCRIBE on the cluster.

func init() { Register(kmsg.DescribeACLs.Int16(), 0, 3, handleDescribeAcls) }

func handleDescribeAcls(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	store := s.aclStore()
	if store == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = kmsg.StringPtr("no ACL store: the broker runs without security")
		return Reply{Resp: resp}, nil
	}
	f := auth.Filter{ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType}
	if r.Version == 0 {
		f.PatternType = kmsg.ACLResourcePatternTypeLiteral
	}
	if err := f.ValidateFilter(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return Reply{Resp: resp}, nil
	}
	type resKey struct {
		t    kmsg.ACLResourceType
		name string
		p    kmsg.ACLResourcePatternType
	}
	idx := map[resKey]int{}
	for _, a := range store.Describe(f) {
		k := resKey{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := idx[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = k.t, k.name, k.p
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			idx[k] = i
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	return Reply{Resp: resp}, nil
}

// aclStore returns the ACL store, nil without security.
func (s *Server) aclStore() *auth.ACLs {
	if s.cfg.Security == nil {
		return nil
	}
	return s.cfg.Security.ACLs
}
