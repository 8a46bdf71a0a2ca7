package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// DescribeUserScramCredentials: v0
//
// Behavior:
//   - Lists each named user's mechanisms (1 SCRAM-SHA-256, 2 SCRAM-SHA-512)
//     and iteration counts, or every user when the list is null; never the
//     salts or keys. An unknown user gets RESOURCE_NOT_FOUND, a user named
//     twice DUPLICATE_RESOURCE.
//   - Without Security.Users: SECURITY_DISABLED. Needs DESCRIBE on the cluster.

func init() {
	Register(kmsg.DescribeUserSCRAMCredentials.Int16(), 0, 0, handleDescribeUserScramCredentials)
}

func scramWireMechanism(m auth.Mechanism) int8 {
	if m == auth.ScramSHA512 {
		return 2
	}
	return 1
}

func handleDescribeUserScramCredentials(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if s.cfg.Security == nil || s.cfg.Security.Users == nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr("the broker runs without users")
		return Reply{Resp: resp}, nil
	}
	users, err := s.cfg.Security.Users.List()
	if err != nil {
		s.log.Error("list users", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return Reply{Resp: resp}, nil
	}
	byName := map[string]auth.UserInfo{}
	for _, u := range users {
		byName[u.Name] = u
	}
	result := func(u auth.UserInfo) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u.Name
		for _, m := range auth.Mechanisms {
			if it, ok := u.Mechanisms[m]; ok {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = scramWireMechanism(m), int32(it)
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		return res
	}
	if req.Users == nil {
		for _, u := range users {
			resp.Results = append(resp.Results, result(u))
		}
		return Reply{Resp: resp}, nil
	}
	seen := map[string]int{}
	for _, u := range req.Users {
		seen[u.Name]++
	}
	for _, ru := range req.Users {
		u, ok := byName[ru.Name]
		switch {
		case seen[ru.Name] > 1:
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = ru.Name, kerr.DuplicateResource.Code
			resp.Results = append(resp.Results, res)
		case !ok:
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = ru.Name, kerr.ResourceNotFound.Code
			res.ErrorMessage = kmsg.StringPtr(errors.New("attempt to describe a user credential that does not exist").Error())
			resp.Results = append(resp.Results, res)
		default:
			resp.Results = append(resp.Results, result(u))
		}
	}
	return Reply{Resp: resp}, nil
}
