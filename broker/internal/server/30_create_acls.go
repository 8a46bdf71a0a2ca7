package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// CreateAcls: v0-3
//
// Behavior:
//   - Stores each creation durably (acls.json, crash-safe) before answering;
//     each has its own result. An invalid entry (ANY or MATCH values, a
//     principal not of the form Type:name, an empty host, a cluster resource
//     not named kafka-cluster) gets INVALID_REQUEST and is not stored; an
//     entry already present is not stored twice. v0 entries are LITERAL.
//   - Without Security.ACLs: SECURITY_DISABLED. Needs ALTER on the cluster.

func init() { Register(kmsg.CreateACLs.Int16(), 0, 3, handleCreateAcls) }

func handleCreateAcls(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	store := s.aclStore()
	var valid []auth.ACL
	var validIdx []int
	for i, c := range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		a := auth.ACL{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if r.Version == 0 {
			a.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		switch err := a.Validate(); {
		case store == nil:
			res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr("the broker runs without security")
		case err != nil:
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		default:
			valid, validIdx = append(valid, a), append(validIdx, i)
		}
		resp.Results = append(resp.Results, res)
	}
	if len(valid) > 0 {
		if err := store.Create(valid); err != nil {
			s.log.Error("create acls", "err", err)
			for _, i := range validIdx {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr("storing the ACLs failed")
			}
		} else {
			s.log.Info("created acls", "count", len(valid), "principal", principalOf(r))
		}
	}
	return Reply{Resp: resp}, nil
}

func principalOf(r *Request) string {
	if r.sess == nil {
		return auth.Anonymous
	}
	return r.sess.principal
}
